// Package evtx is a fast, streaming, dependency-free reader for Windows XML
// Event Log (EVTX) files that turns each event record into a flat list of
// named fields, the shape Sigma rules match against.
//
// What lives here:
//
//   - reader.go: the public API (Open, NewReader, NewStreamReader, IsEVTX,
//     Reader.Next, Options, Warning) and the ordered parallel pipeline that parses 64 KiB chunks on
//     a bounded pool of workers;
//   - chunk.go: file header and chunk parsing (signatures, CRC checks, record
//     framing, resynchronisation after corrupt records);
//   - binxml.go: Binary XML tokens and template definitions, compiled once per
//     chunk into a small node tree (and reused by later chunks when the
//     definition is byte-identical and self-contained);
//   - render.go: evaluation of a template instance with its substitution
//     values and the flattening rules;
//   - format.go: textual formatting of every substitution value type.
//
// Tests use the shared corpus (VIGIL_CORPUS or ../shared/corpus from the
// repository root; skipped when absent, a failure when CI is set), the
// reference counts in testdata/record_counts.tsv, golden fixtures in
// testdata/golden and real-chunk fuzz seeds in testdata/fuzz/FuzzReader.
//
// # Flattening
//
// Children of Event/System become their element name when they have text
// (EventID, Level, Channel, Computer, ...), and their attributes become
// Element_Attr (Provider_Name, TimeCreated_SystemTime, Execution_ProcessID,
// EventID_Qualifiers, ...). EventData/Data elements become the value of their
// Name attribute, unnamed Data elements become "Data" (repeated in order) and
// Binary becomes "Binary". Below UserData and any other child of Event
// (RenderingInfo, ProcessingErrorData, DebugData, ...) every leaf element
// becomes its element name and its attributes Element_Attr; attributes of
// non-leaf elements (typically xmlns) are dropped. An element that exists but
// has no text yields a field with an empty value; an attribute whose optional
// substitution is NULL is omitted, as Windows does.
//
// # Values
//
// Integers are decimal; HexInt32/HexInt64 and size_t are "0x" followed by
// lowercase hex without padding; GUIDs are {XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}
// in uppercase; SIDs are S-1-5-...; FILETIME and SYSTEMTIME values are
// RFC 3339 UTC with exactly 7 fractional digits (2019-03-19T23:34:25.4478145Z);
// binary data is uppercase hex; booleans are true/false; floats use
// strconv's 'g' format; strings lose trailing NUL characters; character and
// entity references are replaced by the characters they stand for. Arrays
// produce one field per element, all with the same name. EvtHandle and
// EvtXml values (API types not expected in files) and values whose size does
// not fit their type are rendered as uppercase hex.
//
// An element whose content is an optional substitution with a NULL value
// is kept with an empty value (evtxexport renders it as <Data Name="X"/>).
// Text is not whitespace-normalised: a value consisting of a line break stays
// a line break although Event Viewer shows it as empty.
//
// # Robustness
//
// The reader never trusts the file header's chunk count: it visits every
// 64 KiB block after the 4 KiB header and parses those that carry the
// "ElfChnk\x00" signature, so dirty files and files with a stale header are
// read completely. The header's count is only used to report a file cut
// short: when fewer chunks are present than it announces, a file-header
// Warning says how many are missing. A file whose header signature is
// damaged is still read when the chunk signature follows the header
// (IsEVTX recognises both).
//
// # Streams
//
// NewReader reads chunks at random from an io.ReaderAt; NewStreamReader
// reads them in order from an io.Reader (standard input, a pipe, a gzip
// decompressor): one goroutine reads 64 KiB chunks, the workers parse
// them, and the buffers are recycled, so memory stays bounded whatever the
// size of the stream. Both give the same records and warnings. Records past a chunk's free space offset are taken when
// their identifiers continue the chunk's sequence (a stale chunk header in a
// dirty file) and ignored otherwise (slack holding old data). CRC mismatches,
// corrupt records and undecodable BinXML are reported as Warnings (naming the
// file, chunk index and file offset) and parsing continues with the next
// record, resynchronising on the next record signature, or the next chunk.
// Records whose templates are missing from the chunk cannot be recovered and
// are skipped with a warning. All offsets are
// bounds-checked, element nesting and nested BinXML depth are capped, and
// template reference cycles are detected, so no input makes the reader panic
// or loop forever.
package evtx
