package workflows

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"
)

// decodingRegistry registers each workflow behind a wrapper that takes the
// raw input payload and decodes it itself. Left to the SDK, an input that
// is not JSON or holds a wrong type fails the run with a generic decoding
// error (retryable, and of no type a caller can test); decoded here, it is
// a non-retryable InvalidInput error that names the field, like every other
// input the workflows refuse. The payload reaches the wrapper after the
// payload codec, so the wrapper sees the JSON the starter sent, and
// recorded histories replay unchanged: the same input decodes to the same
// value.
type decodingRegistry struct{ Registry }

// RegisterWorkflowWithOptions registers decodeInput(w) under options.Name,
// which must be set (the wrapper's own Go name says nothing).
func (r decodingRegistry) RegisterWorkflowWithOptions(w any, options workflow.RegisterOptions) {
	if options.Name == "" {
		panic(fmt.Sprintf("workflow %T registered without a name", w))
	}
	r.Registry.RegisterWorkflowWithOptions(decodeInput(w), options)
}

var (
	rawValueType = reflect.TypeFor[converter.RawValue]()
	errorType    = reflect.TypeFor[error]()
)

// decodeInput turns fn, a func(workflow.Context, In) (..., error), into
// the same function taking its input as a converter.RawValue.
func decodeInput(fn any) any {
	v := reflect.ValueOf(fn)
	t := v.Type()
	if t.Kind() != reflect.Func || t.NumIn() != 2 || t.NumOut() < 1 || t.Out(t.NumOut()-1) != errorType {
		panic(fmt.Sprintf("workflow %s: want func(workflow.Context, Input) (..., error)", t))
	}
	inType := t.In(1)
	outs := make([]reflect.Type, t.NumOut())
	for i := range outs {
		outs[i] = t.Out(i)
	}
	wrapped := reflect.FuncOf([]reflect.Type{t.In(0), rawValueType}, outs, false)
	return reflect.MakeFunc(wrapped, func(args []reflect.Value) []reflect.Value {
		in := reflect.New(inType)
		if err := DecodeInput(args[1].Interface().(converter.RawValue), in.Interface()); err != nil {
			res := make([]reflect.Value, len(outs))
			for i, o := range outs {
				res[i] = reflect.Zero(o)
			}
			res[len(res)-1] = reflect.ValueOf(&err).Elem()
			return res
		}
		return v.Call([]reflect.Value{args[0], in.Elem()})
	}).Interface()
}

// DecodeInput decodes a workflow's input payload into ptr. No input (or a
// JSON null) leaves ptr as it is, for the workflow to say which field is
// required. Anything else must be one JSON value of ptr's type with no
// field it does not know: a misspelt "until" must not restore to the end
// of the archive instead. Errors are InvalidInput errors naming the field.
func DecodeInput(raw converter.RawValue, ptr any) error {
	p := raw.Payload()
	if p == nil {
		return nil
	}
	switch enc := string(p.GetMetadata()[converter.MetadataEncoding]); enc {
	case converter.MetadataEncodingNil:
		return nil
	case converter.MetadataEncodingJSON:
	default:
		return invalidInput("input", fmt.Sprintf("payload encoding %q: want %s (a JSON object)", enc, converter.MetadataEncodingJSON))
	}
	dec := json.NewDecoder(bytes.NewReader(p.GetData()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(ptr); err != nil {
		return jsonInputError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return invalidInput("input", "more than one JSON value: want one object")
	}
	return nil
}

// jsonInputError names the field a JSON decoding error is about.
func jsonInputError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			field = "input"
		}
		return invalidInput(field, fmt.Sprintf("got a JSON %s, want %s", typeErr.Value, jsonKind(typeErr.Type)))
	case errors.As(err, &syntaxErr):
		return invalidInput("input", fmt.Sprintf("not valid JSON at byte %d: %v", syntaxErr.Offset, err))
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return invalidInput("input", "the JSON ends early")
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	if field, ok := strings.CutPrefix(msg, "unknown field "); ok {
		return invalidInput(strings.Trim(field, `"`), "no such field")
	}
	return invalidInput("input", msg)
}

// jsonKind says what JSON a Go type is written as.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	}
	return t.String()
}
