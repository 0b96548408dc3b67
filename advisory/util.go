package advisory

import (
	"fmt"
	"strconv"
)

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func toString(v any) string { return fmt.Sprint(v) }
