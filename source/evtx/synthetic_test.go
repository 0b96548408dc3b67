package evtx

import (
	"encoding/binary"
	"hash/crc32"
	"math"
	"reflect"
	"testing"
	"unicode/utf16"
)

// bx builds BinXML at a known chunk offset so that inline names and
// template definitions get the offsets the format requires.
type bx struct {
	b     []byte
	base  int            // chunk offset of b[0]
	names map[string]int // chunk offset of the first inline copy of a name
	noDep bool           // element starts without dependency identifier
}

func (x *bx) pos() int     { return x.base + len(x.b) }
func (x *bx) u8(v byte)    { x.b = append(x.b, v) }
func (x *bx) u16(v uint16) { x.b = binary.LittleEndian.AppendUint16(x.b, v) }
func (x *bx) u32(v uint32) { x.b = binary.LittleEndian.AppendUint32(x.b, v) }

func utf16le(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = binary.LittleEndian.AppendUint16(b, u)
	}
	return b
}

// name writes a name offset, followed by the name itself the first time.
func (x *bx) name(s string) {
	if off, ok := x.names[s]; ok {
		x.u32(uint32(off))
		return
	}
	x.u32(uint32(x.pos() + 4))
	x.names[s] = x.pos()
	x.u32(0)
	x.u16(0) // hash, not checked
	x.u16(uint16(len(utf16.Encode([]rune(s)))))
	x.b = append(x.b, utf16le(s)...)
	x.u16(0)
}

func (x *bx) open(name string, attrs bool) {
	if attrs {
		x.u8(0x41)
	} else {
		x.u8(0x01)
	}
	if !x.noDep {
		x.u16(0xffff)
	}
	x.u32(0) // data size (not needed by the reader beyond a bounds check)
	x.name(name)
	if attrs {
		x.u32(0) // attribute list size
	}
}

func (x *bx) attr(name string) { x.u8(0x06); x.name(name) }
func (x *bx) text(s string) {
	x.u8(0x05)
	x.u8(0x01)
	x.u16(uint16(len(utf16.Encode([]rune(s)))))
	x.b = append(x.b, utf16le(s)...)
}
func (x *bx) sub(id uint16, typ byte, optional bool) {
	if optional {
		x.u8(0x0e)
	} else {
		x.u8(0x0d)
	}
	x.u16(id)
	x.u8(typ)
}
func (x *bx) closeStart() { x.u8(0x02) }
func (x *bx) closeEmpty() { x.u8(0x03) }
func (x *bx) end()        { x.u8(0x04) }

// leaf writes <name>%id</name>.
func (x *bx) leaf(name string, id uint16, typ byte) {
	x.open(name, false)
	x.closeStart()
	x.sub(id, typ, false)
	x.end()
}

// data writes <Data Name="name">%id</Data>.
func (x *bx) data(name string, id uint16, typ byte) {
	x.open("Data", true)
	x.attr("Name")
	x.text(name)
	x.closeStart()
	x.sub(id, typ, false)
	x.end()
}

// templateBody writes the template used by the synthetic records.
func (x *bx) templateBody() {
	x.b = append(x.b, 0x0f, 1, 1, 0)
	x.open("Event", true)
	x.attr("xmlns")
	x.text("http://schemas.microsoft.com/win/2004/08/events/event")
	x.closeStart()
	x.open("System", false)
	x.closeStart()
	x.open("Provider", true)
	x.attr("Name")
	x.text("Synthetic")
	x.attr("Guid")
	x.sub(0, vtGUID, true)
	x.closeEmpty()
	x.open("EventID", true)
	x.attr("Qualifiers")
	x.sub(1, vtUint16, false)
	x.closeStart()
	x.sub(2, vtUint16, false)
	x.end()
	x.leaf("Level", 3, vtUint8)
	x.leaf("Keywords", 4, vtHexInt64)
	x.open("TimeCreated", true)
	x.attr("SystemTime")
	x.sub(5, vtFiletime, false)
	x.closeEmpty()
	x.open("Security", true)
	x.attr("UserID")
	x.sub(6, vtSID, true)
	x.closeEmpty()
	x.open("Correlation", false)
	x.closeEmpty()
	x.end() // System
	x.open("EventData", false)
	x.closeStart()
	// <Data Name="Text">a&amp;b&#65;<![CDATA[c]]></Data>
	x.open("Data", true)
	x.attr("Name")
	x.text("Text")
	x.closeStart()
	x.u8(0x45)
	x.u8(0x01)
	x.u16(1)
	x.b = append(x.b, utf16le("a")...)
	x.u8(0x49)
	x.name("amp")
	x.u8(0x48)
	x.u16('A')
	x.u8(0x07)
	x.u16(1)
	x.b = append(x.b, utf16le("c")...)
	x.end()
	x.data("Arr", 7, vtString|typeArray)
	x.open("Data", false)
	x.closeStart()
	x.sub(8, vtGUID, false)
	x.end()
	x.data("Sys", 9, vtSystemtime)
	x.data("F", 10, vtFloat64)
	x.data("B", 11, vtBool)
	x.leaf("Binary", 12, vtBinary)
	x.data("Ansi", 13, vtAnsiString)
	x.data("I8", 14, vtInt8)
	x.data("Size", 15, vtSizeT)
	x.data("U32", 16, vtUint32|typeArray)
	x.data("Null", 17, vtString)
	x.open("Data", true)
	x.attr("Name")
	x.text("Opt")
	x.closeStart()
	x.sub(19, vtString, true)
	x.end()
	x.end() // EventData
	x.open("UserData", false)
	x.closeStart()
	x.sub(18, typeBinXML, false)
	x.end()
	x.end() // Event
	x.u8(0x00)
}

// testFiletime is 2019-03-19T23:34:25.4478145Z.
const testFiletime = (1553038465+11644473600)*10000000 + 4478145

type sval struct {
	typ  byte
	data []byte
}

// userData is a BinXML substitution value holding plain elements, without
// dependency identifiers, preceded by a processing instruction.
func userData(base int, names map[string]int, user string) []byte {
	x := &bx{base: base, names: names, noDep: true}
	x.b = append(x.b, 0x0f, 1, 1, 0)
	x.u8(0x0a) // PI target
	x.name("xml-stylesheet")
	x.u8(0x0b) // PI data
	x.u16(2)
	x.b = append(x.b, utf16le("hi")...)
	x.open("LogFileCleared", true)
	x.attr("xmlns")
	x.text("urn:x")
	x.closeStart()
	x.open("SubjectUserName", true)
	x.attr("Kind")
	x.text("user")
	x.closeStart()
	x.text(user)
	x.end()
	x.end()
	x.u8(0x00)
	return x.b
}

// syntheticValues returns the substitution values 0-17 of record id.
func syntheticValues(id int) []sval {
	le16 := func(v uint16) []byte { return binary.LittleEndian.AppendUint16(nil, v) }
	le32 := func(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
	le64 := func(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }
	guid := []byte{0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}
	sid := []byte{1, 3, 0, 0, 0, 0, 0, 5, 21, 0, 0, 0, 0xe8, 0x03, 0, 0, 0xf4, 0x01, 0, 0}
	var systime []byte
	for _, v := range []uint16{2019, 3, 2, 19, 23, 34, 25, 447} {
		systime = append(systime, le16(v)...)
	}
	return []sval{
		{0, nil}, // optional GUID: NULL, so the attribute is omitted
		{vtUint16, le16(16384)},
		{vtUint16, le16(uint16(4624 + id))},
		{vtUint8, []byte{4}},
		{vtHexInt64, le64(0x8020000000000000)},
		{vtFiletime, le64(testFiletime)},
		{vtSID, sid},
		{vtString | typeArray, append(append(utf16le("x"), 0, 0), append(utf16le("y"), 0, 0)...)},
		{vtGUID, guid},
		{vtSystemtime, systime},
		{vtFloat64, le64(math.Float64bits(1.5))},
		{vtBool, le32(1)},
		{vtBinary, []byte{0xde, 0xad, 0xbe, 0xef}},
		{vtAnsiString, []byte("caf\xe9\x80\x00")},
		{vtInt8, []byte{0xfb}},
		{vtSizeT, le64(0x1f)},
		{vtUint32 | typeArray, append(le32(1), le32(2)...)},
		{0, nil}, // normal NULL: the element stays, empty
	}
}

// buildRecord returns record id at chunk offset base. The first record
// defines the template inline; later ones reference it by offset.
func buildRecord(base int, names map[string]int, tmplOff *int, id int) []byte {
	x := &bx{base: base + recordHeaderSize, names: names}
	x.b = append(x.b, 0x0f, 1, 1, 0)
	x.u8(0x0c)
	x.u8(1)
	x.u32(0xabcd)
	if *tmplOff == 0 {
		*tmplOff = x.pos() + 4
		x.u32(uint32(*tmplOff))
		x.u32(0)
		x.b = append(x.b, make([]byte, 16)...)
		sizeAt := len(x.b)
		x.u32(0)
		start := len(x.b)
		x.templateBody()
		binary.LittleEndian.PutUint32(x.b[sizeAt:], uint32(len(x.b)-start))
	} else {
		x.u32(uint32(*tmplOff))
	}
	vals := syntheticValues(id)
	const n = 20
	size := 0
	for _, v := range vals {
		size += len(v.data)
	}
	dataStart := x.pos() + 4 + 4*n
	ud := userData(dataStart+size, names, []string{"alice", "bob"}[id%2])
	vals = append(vals, sval{typeBinXML, ud}, sval{0, nil})
	x.u32(n)
	for _, v := range vals {
		x.u16(uint16(len(v.data)))
		x.u8(v.typ)
		x.u8(0)
	}
	for _, v := range vals {
		x.b = append(x.b, v.data...)
	}
	body := x.b
	rec := append([]byte("**\x00\x00"), make([]byte, 20)...)
	binary.LittleEndian.PutUint32(rec[4:], uint32(recordHeaderSize+len(body)+4))
	binary.LittleEndian.PutUint64(rec[8:], uint64(100+id))
	binary.LittleEndian.PutUint64(rec[16:], testFiletime)
	rec = append(rec, body...)
	return binary.LittleEndian.AppendUint32(rec, uint32(len(rec)+4))
}

// syntheticFile builds a one-chunk EVTX file with valid checksums holding
// records that exercise every BinXML token and most value types.
func syntheticFile(records int) []byte {
	hdr := make([]byte, fileHeaderSize)
	copy(hdr, fileSignature)
	binary.LittleEndian.PutUint32(hdr[32:], 128)
	binary.LittleEndian.PutUint16(hdr[36:], 1)
	binary.LittleEndian.PutUint16(hdr[38:], 3)
	binary.LittleEndian.PutUint16(hdr[40:], fileHeaderSize)
	binary.LittleEndian.PutUint16(hdr[42:], 1)
	binary.LittleEndian.PutUint32(hdr[124:], crc32.ChecksumIEEE(hdr[:120]))
	chunk := make([]byte, chunkSize)
	copy(chunk, chunkSignature)
	names := map[string]int{}
	tmplOff := 0
	pos := chunkHeaderSize
	for i := 0; i < records; i++ {
		rec := buildRecord(pos, names, &tmplOff, i)
		copy(chunk[pos:], rec)
		pos += len(rec)
	}
	binary.LittleEndian.PutUint64(chunk[24:], 100)
	binary.LittleEndian.PutUint64(chunk[32:], uint64(100+records-1))
	binary.LittleEndian.PutUint32(chunk[40:], 128)
	binary.LittleEndian.PutUint32(chunk[48:], uint32(pos))
	binary.LittleEndian.PutUint32(chunk[52:], crc32.ChecksumIEEE(chunk[chunkHeaderSize:pos]))
	fixCRCs(chunk)
	return append(hdr, chunk...)
}

func TestSynthetic(t *testing.T) {
	data := syntheticFile(2)
	recs, warns, err := readAllBytes(t, data, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 0 {
		t.Fatalf("warnings: %v", warns)
	}
	if len(recs) != 2 {
		t.Fatalf("got %d records", len(recs))
	}
	for i, r := range recs {
		want := []Field{
			{"Provider_Name", "Synthetic"},
			{"EventID_Qualifiers", "16384"},
			{"EventID", []string{"4624", "4625"}[i]},
			{"Level", "4"},
			{"Keywords", "0x8020000000000000"},
			{"TimeCreated_SystemTime", "2019-03-19T23:34:25.4478145Z"},
			{"Security_UserID", "S-1-5-21-1000-500"},
			{"Correlation", ""},
			{"Text", "a&Ac"},
			{"Arr", "x"},
			{"Arr", "y"},
			{"Data", "{00112233-4455-6677-8899-AABBCCDDEEFF}"},
			{"Sys", "2019-03-19T23:34:25.4470000Z"},
			{"F", "1.5"},
			{"B", "true"},
			{"Binary", "DEADBEEF"},
			{"Ansi", "café€"},
			{"I8", "-5"},
			{"Size", "0x1f"},
			{"U32", "1"},
			{"U32", "2"},
			{"Null", ""},
			{"Opt", ""},
			{"SubjectUserName_Kind", "user"},
			{"SubjectUserName", []string{"alice", "bob"}[i]},
		}
		if !reflect.DeepEqual(r.Fields, want) {
			t.Errorf("record %d:\ngot  %q\nwant %q", i, r.Fields, want)
		}
		if r.ID != uint64(100+i) || r.Written.Format("2006-01-02T15:04:05.0000000Z") != "2019-03-19T23:34:25.4478145Z" {
			t.Errorf("record %d: header ID %d written %v", i, r.ID, r.Written)
		}
	}
}

// TestSyntheticMutations runs the synthetic chunk through random damage.
func TestSyntheticMutations(t *testing.T) {
	base := syntheticFile(5)
	for n := fileHeaderSize; n < len(base); n += 97 {
		if _, _, err := readAllBytes(t, base[:n], 1); err != nil {
			t.Fatalf("truncated to %d: %v", n, err)
		}
	}
	for i := fileHeaderSize + chunkHeaderSize; i < fileHeaderSize+chunkHeaderSize+3000 && i < len(base); i++ {
		data := append([]byte(nil), base...)
		data[i] ^= 0xff
		fixCRCs(data[fileHeaderSize:])
		if _, _, err := readAllBytes(t, data, 1); err != nil {
			t.Fatalf("byte %d flipped: %v", i, err)
		}
	}
}
