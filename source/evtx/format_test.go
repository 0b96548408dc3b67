package evtx

import (
	"encoding/binary"
	"math"
	"testing"
)

func TestAppendScalar(t *testing.T) {
	le16 := func(v uint16) []byte { return binary.LittleEndian.AppendUint16(nil, v) }
	le32 := func(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
	le64 := func(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }
	tests := []struct {
		name string
		typ  byte
		data []byte
		want string
	}{
		{"null", typeNull, nil, ""},
		{"utf16 trailing NULs", vtString, append(utf16le("abc"), 0, 0, 0, 0), "abc"},
		{"utf16 non-ASCII", vtString, utf16le("Grüße, 日本"), "Grüße, 日本"},
		{"utf16 surrogate pair", vtString, utf16le("a😀b"), "a😀b"},
		{"utf16 lone surrogate", vtString, []byte{0x00, 0xd8, 'x', 0}, "\ufffdx"},
		{"utf16 odd length", vtString, []byte{'a', 0, 'b'}, "a"},
		{"ansi cp1252", vtAnsiString, []byte("\x80\xe9\x00"), "€é"},
		{"int8", vtInt8, []byte{0x80}, "-128"},
		{"uint8", vtUint8, []byte{0xff}, "255"},
		{"int16", vtInt16, le16(0xffff), "-1"},
		{"uint16", vtUint16, le16(65535), "65535"},
		{"int32", vtInt32, le32(0x80000000), "-2147483648"},
		{"uint32", vtUint32, le32(4294967295), "4294967295"},
		{"int64", vtInt64, le64(1 << 63), "-9223372036854775808"},
		{"uint64", vtUint64, le64(math.MaxUint64), "18446744073709551615"},
		{"float32", vtFloat32, le32(math.Float32bits(0.1)), "0.1"},
		{"float64", vtFloat64, le64(math.Float64bits(3199.234)), "3199.234"},
		{"bool false", vtBool, le32(0), "false"},
		{"bool true", vtBool, le32(1), "true"},
		{"binary", vtBinary, []byte{0, 0xab}, "00AB"},
		{"guid", vtGUID, []byte{0x5f, 0x38, 0x70, 0x57, 0x2a, 0xc2, 0xe0, 0x43, 0xbf, 0x4c, 0x06, 0xf5, 0x69, 0x8f, 0xfb, 0xd9}, "{5770385F-C22A-43E0-BF4C-06F5698FFBD9}"},
		{"size_t 4", vtSizeT, le32(0x10), "0x10"},
		{"size_t 8", vtSizeT, le64(0xdeadbeef00), "0xdeadbeef00"},
		{"filetime", vtFiletime, le64(testFiletime), "2019-03-19T23:34:25.4478145Z"},
		{"filetime zero", vtFiletime, le64(0), "1601-01-01T00:00:00.0000000Z"},
		{"filetime max", vtFiletime, le64(math.MaxUint64), "60056-05-28T05:36:10.9551615Z"},
		{"systemtime", vtSystemtime, []byte{0xe3, 0x07, 3, 0, 2, 0, 19, 0, 23, 0, 34, 0, 25, 0, 0xbf, 0x01}, "2019-03-19T23:34:25.4470000Z"},
		{"sid", vtSID, []byte{1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0}, "S-1-5-18"},
		{"sid big authority", vtSID, []byte{1, 0, 1, 2, 3, 4, 5, 6}, "S-1-0x010203040506"},
		{"sid short", vtSID, []byte{1, 2, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0}, "010200000000000512000000"},
		{"hexint32", vtHexInt32, le32(0xC000006D), "0xc000006d"},
		{"hexint64", vtHexInt64, le64(0x8000000000000000), "0x8000000000000000"},
		{"hexint64 zero", vtHexInt64, le64(0), "0x0"},
		{"wrong size", vtUint32, []byte{1, 2}, "0102"},
		{"evthandle", vtEvtHandle, []byte{1, 2}, "0102"},
		{"unknown", 0x7f, []byte{9}, "09"},
	}
	for _, tt := range tests {
		if got := string(appendScalar(nil, tt.typ, tt.data)); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestForEachItem(t *testing.T) {
	le32 := func(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
	sids := append([]byte{1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0}, 1, 2, 0, 0, 0, 0, 0, 5, 32, 0, 0, 0, 0x20, 2, 0, 0)
	tests := []struct {
		name string
		typ  byte
		data []byte
		want []string
	}{
		{"strings", vtString, append(append(utf16le("a"), 0, 0), append(utf16le("bc"), 0, 0)...), []string{"a", "bc"}},
		{"strings unterminated", vtString, append(append(utf16le("a"), 0, 0), utf16le("bc")...), []string{"a", "bc"}},
		{"strings empty", vtString, nil, nil},
		{"ansi", vtAnsiString, []byte("a\x00b\x00"), []string{"a", "b"}},
		{"uint32", vtUint32, append(le32(7), le32(8)...), []string{"7", "8"}},
		{"uint32 ragged", vtUint32, append(le32(7), 1), []string{"7", "01"}},
		{"sids", vtSID, sids, []string{"S-1-5-18", "S-1-5-32-544"}},
		{"hexint32", vtHexInt32, le32(255), []string{"0xff"}},
		{"guid", vtGUID, make([]byte, 16), []string{"{00000000-0000-0000-0000-000000000000}"}},
	}
	for _, tt := range tests {
		var got []string
		forEachItem(tt.typ, tt.data, func(b []byte) { got = append(got, string(appendScalar(nil, tt.typ, b))) })
		if len(got) != len(tt.want) {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
				break
			}
		}
	}
}
