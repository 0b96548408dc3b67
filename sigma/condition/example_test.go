package condition_test

import (
	"fmt"

	"github.com/vigil-detect/vigil/sigma/condition"
)

func ExampleParse() {
	n, err := condition.Parse("selection and not 1 of filter_*")
	if err != nil {
		panic(err)
	}
	and := n.(*condition.And)
	fmt.Println(n)
	fmt.Println(len(and.Args), "operands; the second starts at offset", and.Args[1].Pos())

	_, err = condition.Parse("selection and (filter")
	fmt.Println(err)
	// Output:
	// selection and not 1 of filter_*
	// 2 operands; the second starts at offset 14
	// offset 21: expected ")" to close "(" at offset 14, found end of condition
}
