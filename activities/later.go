package activities

// Later runs f on a goroutine of its own and returns a function that waits
// for its result, as often as asked: reads of the store go on while a
// tree is listed.
func Later[T any](f func() (T, error)) func() (T, error) {
	var v T
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		v, err = f()
	}()
	return func() (T, error) {
		<-done
		return v, err
	}
}
