package evtx

import (
	"encoding/binary"
	"math"
	"strconv"
	"unicode/utf8"
)

// Substitution value types.
const (
	vtString     = 0x01
	vtAnsiString = 0x02
	vtInt8       = 0x03
	vtUint8      = 0x04
	vtInt16      = 0x05
	vtUint16     = 0x06
	vtInt32      = 0x07
	vtUint32     = 0x08
	vtInt64      = 0x09
	vtUint64     = 0x0a
	vtFloat32    = 0x0b
	vtFloat64    = 0x0c
	vtBool       = 0x0d
	vtBinary     = 0x0e
	vtGUID       = 0x0f
	vtSizeT      = 0x10
	vtFiletime   = 0x11
	vtSystemtime = 0x12
	vtSID        = 0x13
	vtHexInt32   = 0x14
	vtHexInt64   = 0x15
	vtEvtHandle  = 0x20
	vtBinXML     = 0x21
	vtEvtXML     = 0x23
)

const hexUpper = "0123456789ABCDEF"

// appendUTF16 appends UTF-16LE b as UTF-8, dropping trailing NUL characters
// and replacing unpaired surrogates with U+FFFD.
func appendUTF16(dst, b []byte) []byte {
	n := len(b) &^ 1
	for n >= 2 && b[n-1] == 0 && b[n-2] == 0 {
		n -= 2
	}
	i := 0
	for i < n {
		// Fast path: 4 ASCII characters at a time.
		if i+8 <= n {
			w := binary.LittleEndian.Uint64(b[i:])
			if w&0xff80ff80ff80ff80 == 0 {
				dst = append(dst, byte(w), byte(w>>16), byte(w>>32), byte(w>>48))
				i += 8
				continue
			}
		}
		u := rune(b[i]) | rune(b[i+1])<<8
		i += 2
		if u < 0x80 {
			dst = append(dst, byte(u))
			continue
		}
		if u >= 0xd800 && u < 0xe000 {
			if u < 0xdc00 && i+2 <= n {
				u2 := rune(b[i]) | rune(b[i+1])<<8
				if u2 >= 0xdc00 && u2 < 0xe000 {
					i += 2
					dst = utf8.AppendRune(dst, (u-0xd800)<<10+(u2-0xdc00)+0x10000)
					continue
				}
			}
			u = utf8.RuneError
		}
		dst = utf8.AppendRune(dst, u)
	}
	return dst
}

// cp1252 maps bytes 0x80-0x9f of Windows-1252 (the default ANSI code page).
var cp1252 = [32]rune{
	0x20ac, 0xfffd, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021,
	0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0xfffd, 0x017d, 0xfffd,
	0xfffd, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
	0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0xfffd, 0x017e, 0x0178,
}

// appendANSI appends a Windows-1252 string as UTF-8, dropping trailing NULs.
func appendANSI(dst, b []byte) []byte {
	n := len(b)
	for n > 0 && b[n-1] == 0 {
		n--
	}
	for _, c := range b[:n] {
		switch {
		case c < 0x80:
			dst = append(dst, c)
		case c < 0xa0:
			dst = utf8.AppendRune(dst, cp1252[c-0x80])
		default:
			dst = utf8.AppendRune(dst, rune(c))
		}
	}
	return dst
}

func appendHexUpper(dst, b []byte) []byte {
	for _, c := range b {
		dst = append(dst, hexUpper[c>>4], hexUpper[c&15])
	}
	return dst
}

func appendHexFixed(dst []byte, v uint64, digits int) []byte {
	for i := digits - 1; i >= 0; i-- {
		dst = append(dst, hexUpper[(v>>(uint(i)*4))&15])
	}
	return dst
}

// appendGUID formats a little-endian GUID as {XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}.
func appendGUID(dst, b []byte) []byte {
	dst = append(dst, '{')
	dst = appendHexFixed(dst, uint64(le32(b)), 8)
	dst = append(dst, '-')
	dst = appendHexFixed(dst, uint64(le16(b[4:])), 4)
	dst = append(dst, '-')
	dst = appendHexFixed(dst, uint64(le16(b[6:])), 4)
	dst = append(dst, '-')
	dst = appendHexUpper(dst, b[8:10])
	dst = append(dst, '-')
	dst = appendHexUpper(dst, b[10:16])
	return append(dst, '}')
}

// sidLen returns the length of the SID at the start of b, or -1.
func sidLen(b []byte) int {
	if len(b) < 8 {
		return -1
	}
	n := 8 + 4*int(b[1])
	if n > len(b) {
		return -1
	}
	return n
}

// appendSID formats a binary SID as S-R-A-S1-S2-...; b must hold sidLen(b) bytes.
func appendSID(dst, b []byte) []byte {
	n := sidLen(b)
	if n < 0 {
		return appendHexUpper(dst, b)
	}
	dst = append(dst, 'S', '-')
	dst = strconv.AppendUint(dst, uint64(b[0]), 10)
	dst = append(dst, '-')
	auth := uint64(b[2])<<40 | uint64(b[3])<<32 | uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7])
	if auth >= 1<<32 {
		dst = append(dst, '0', 'x')
		dst = appendHexFixed(dst, auth, 12)
	} else {
		dst = strconv.AppendUint(dst, auth, 10)
	}
	for i := 8; i < n; i += 4 {
		dst = append(dst, '-')
		dst = strconv.AppendUint(dst, uint64(le32(b[i:])), 10)
	}
	return dst
}

func appendDigits(dst []byte, v uint64, width int) []byte {
	var tmp [20]byte
	i := len(tmp)
	for v > 0 || width > 0 {
		i--
		tmp[i] = byte('0' + v%10)
		v /= 10
		width--
		if i == 0 {
			break
		}
	}
	return append(dst, tmp[i:]...)
}

// civil converts days since 1970-01-01 to a proleptic Gregorian date.
func civil(days int64) (y int64, m, d int) {
	z := days + 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era--
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = int(doy - (153*mp+2)/5 + 1)
	if mp < 10 {
		m = int(mp + 3)
	} else {
		m = int(mp - 9)
	}
	if m <= 2 {
		y++
	}
	return y, m, d
}

func appendDateTime(dst []byte, y int64, mo, d, h, mi, s int, frac uint64) []byte {
	if y < 0 {
		dst = append(dst, '-')
		y = -y
	}
	dst = appendDigits(dst, uint64(y), 4)
	dst = append(dst, '-')
	dst = appendDigits(dst, uint64(mo), 2)
	dst = append(dst, '-')
	dst = appendDigits(dst, uint64(d), 2)
	dst = append(dst, 'T')
	dst = appendDigits(dst, uint64(h), 2)
	dst = append(dst, ':')
	dst = appendDigits(dst, uint64(mi), 2)
	dst = append(dst, ':')
	dst = appendDigits(dst, uint64(s), 2)
	dst = append(dst, '.')
	dst = appendDigits(dst, frac, 7)
	return append(dst, 'Z')
}

// appendFiletime formats a FILETIME as RFC 3339 UTC with 7 fractional digits.
func appendFiletime(dst []byte, ft uint64) []byte {
	secs := ft / 1e7
	frac := ft % 1e7
	days := int64(secs/86400) - 134774 // 1601-01-01 → 1970-01-01
	sod := int(secs % 86400)
	y, m, d := civil(days)
	return appendDateTime(dst, y, m, d, sod/3600, sod/60%60, sod%60, frac)
}

// appendSystemtime formats a SYSTEMTIME like appendFiletime.
func appendSystemtime(dst, b []byte) []byte {
	ms := uint64(le16(b[14:]))
	return appendDateTime(dst, int64(le16(b)), int(le16(b[2:])), int(le16(b[6:])),
		int(le16(b[8:])), int(le16(b[10:])), int(le16(b[12:])), ms*10000)
}

// appendScalar appends the textual form of one value of type typ (without
// the array bit). Data of an unexpected size is rendered as uppercase hex.
func appendScalar(dst []byte, typ byte, b []byte) []byte {
	switch typ {
	case typeNull:
		return dst
	case vtString:
		return appendUTF16(dst, b)
	case vtAnsiString:
		return appendANSI(dst, b)
	case vtInt8:
		if len(b) == 1 {
			return strconv.AppendInt(dst, int64(int8(b[0])), 10)
		}
	case vtUint8:
		if len(b) == 1 {
			return strconv.AppendUint(dst, uint64(b[0]), 10)
		}
	case vtInt16:
		if len(b) == 2 {
			return strconv.AppendInt(dst, int64(int16(le16(b))), 10)
		}
	case vtUint16:
		if len(b) == 2 {
			return strconv.AppendUint(dst, uint64(le16(b)), 10)
		}
	case vtInt32:
		if len(b) == 4 {
			return strconv.AppendInt(dst, int64(int32(le32(b))), 10)
		}
	case vtUint32:
		if len(b) == 4 {
			return strconv.AppendUint(dst, uint64(le32(b)), 10)
		}
	case vtInt64:
		if len(b) == 8 {
			return strconv.AppendInt(dst, int64(le64(b)), 10)
		}
	case vtUint64:
		if len(b) == 8 {
			return strconv.AppendUint(dst, le64(b), 10)
		}
	case vtFloat32:
		if len(b) == 4 {
			return strconv.AppendFloat(dst, float64(math.Float32frombits(le32(b))), 'g', -1, 32)
		}
	case vtFloat64:
		if len(b) == 8 {
			return strconv.AppendFloat(dst, math.Float64frombits(le64(b)), 'g', -1, 64)
		}
	case vtBool:
		if len(b) > 0 {
			for _, c := range b {
				if c != 0 {
					return append(dst, "true"...)
				}
			}
			return append(dst, "false"...)
		}
	case vtGUID:
		if len(b) == 16 {
			return appendGUID(dst, b)
		}
	case vtSizeT, vtHexInt32, vtHexInt64:
		switch len(b) {
		case 4:
			return strconv.AppendUint(append(dst, '0', 'x'), uint64(le32(b)), 16)
		case 8:
			return strconv.AppendUint(append(dst, '0', 'x'), le64(b), 16)
		}
	case vtFiletime:
		if len(b) == 8 {
			return appendFiletime(dst, le64(b))
		}
	case vtSystemtime:
		if len(b) == 16 {
			return appendSystemtime(dst, b)
		}
	case vtSID:
		if sidLen(b) > 0 {
			return appendSID(dst, b)
		}
	}
	return appendHexUpper(dst, b)
}

// itemSize is the fixed size of one array element of type typ, 0 if variable.
func itemSize(typ byte, n int) int {
	switch typ {
	case vtInt8, vtUint8:
		return 1
	case vtInt16, vtUint16:
		return 2
	case vtInt32, vtUint32, vtFloat32, vtBool, vtHexInt32:
		return 4
	case vtInt64, vtUint64, vtFloat64, vtFiletime, vtHexInt64:
		return 8
	case vtGUID, vtSystemtime:
		return 16
	case vtSizeT:
		if n%8 == 0 {
			return 8
		}
		return 4
	}
	return 0
}

// forEachItem calls fn for each element of an array value of element type typ.
func forEachItem(typ byte, b []byte, fn func([]byte)) {
	switch typ {
	case vtString:
		start := 0
		for i := 0; i+1 < len(b); i += 2 {
			if b[i] == 0 && b[i+1] == 0 {
				fn(b[start:i])
				start = i + 2
			}
		}
		if start < len(b)&^1 {
			fn(b[start : len(b)&^1])
		}
	case vtAnsiString:
		start := 0
		for i, c := range b {
			if c == 0 {
				fn(b[start:i])
				start = i + 1
			}
		}
		if start < len(b) {
			fn(b[start:])
		}
	case vtSID:
		for len(b) > 0 {
			n := sidLen(b)
			if n < 0 {
				fn(b)
				return
			}
			fn(b[:n])
			b = b[n:]
		}
	default:
		sz := itemSize(typ, len(b))
		if sz == 0 {
			if len(b) > 0 {
				fn(b)
			}
			return
		}
		for len(b) >= sz {
			fn(b[:sz])
			b = b[sz:]
		}
		if len(b) > 0 {
			fn(b)
		}
	}
}
