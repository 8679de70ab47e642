// Package main calls one symbol of the standard library and one of a
// required module that testdata/osv marks vulnerable.
package main

import (
	"fmt"
	"strings"

	"github.com/klauspost/compress/zstd"
)

func main() {
	d, err := zstd.NewReader(nil)
	fmt.Println(strings.ToUpper("x"), d, err)
}
