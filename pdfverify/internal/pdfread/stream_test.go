package pdfread

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
)

// openObject writes minimal() plus extra objects with a classic table,
// opens the file and reads object num.
func openObject(t *testing.T, lim Limits, num int, extra ...numBody) (*File, Object, error) {
	t.Helper()
	f, err := Open(buildClassic(minimal(extra...), trailerRoot), lim)
	if err != nil {
		t.Fatalf("Open() error: %v", err)
	}
	o, err := f.Object(Ref{num, 0})
	return f, o, err
}

func TestStreamObject(t *testing.T) {
	tests := []struct {
		name    string
		objs    []numBody
		wantRaw string
	}{
		{"ok/direct-length", []numBody{{3, "<</Length 5>>\nstream\nabcde\nendstream"}}, "abcde"},
		{"ok/crlf-after-keyword", []numBody{{3, "<</Length 5>>stream\r\nabcde\r\nendstream"}}, "abcde"},
		{"ok/no-eol-before-endstream", []numBody{{3, "<</Length 5>>\nstream\nabcdeendstream"}}, "abcde"},
		{"ok/zero-length", []numBody{{3, "<</Length 0>>\nstream\n\nendstream"}}, ""},
		{"ok/indirect-length", []numBody{{3, "<</Length 4 0 R>>\nstream\nabcde\nendstream"}, {4, "5"}}, "abcde"},
		{"ok/binary-data-with-endstream-inside", []numBody{{3, "<</Length 18>>\nstream\n\x00endstream\nendobj\xff\nendstream"}}, "\x00endstream\nendobj\xff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, o, err := openObject(t, Limits{}, 3, tt.objs...)
			if err != nil {
				t.Fatalf("Object(3 0 R) error: %v", err)
			}
			s, ok := o.(*Stream)
			if !ok {
				t.Fatalf("Object(3 0 R) = %T, want *Stream", o)
			}
			if string(s.Raw) != tt.wantRaw {
				t.Errorf("Raw = %q, want %q", s.Raw, tt.wantRaw)
			}
			if cap(s.Raw) != len(s.Raw) {
				t.Errorf("cap(Raw) = %d, want %d", cap(s.Raw), len(s.Raw))
			}
		})
	}
}

func TestStreamObjectFail(t *testing.T) {
	tests := []struct {
		name      string
		objs      []numBody
		wantMsg   string
		wantLimit bool
	}{
		{"fail/length-too-long", []numBody{{3, "<</Length 7>>\nstream\nabcde\nendstream"}}, "stream /Length 7 of object 3 0 does not end at endstream", false},
		{"fail/length-too-short", []numBody{{3, "<</Length 3>>\nstream\nabcde\nendstream"}}, "stream /Length 3 of object 3 0 does not end at endstream", false},
		{"fail/length-past-end-of-file", []numBody{{3, "<</Length 99999>>\nstream\nabcde\nendstream"}}, "runs past the end of the file", false},
		{"fail/negative-length", []numBody{{3, "<</Length -5>>\nstream\nabcde\nendstream"}}, "is not a non-negative integer", false},
		{"fail/real-length", []numBody{{3, "<</Length 5.0>>\nstream\nabcde\nendstream"}}, "is not a non-negative integer", false},
		{"fail/missing-length", []numBody{{3, "<<>>\nstream\nabcde\nendstream"}}, "is not a non-negative integer", false},
		{"fail/missing-indirect-length", []numBody{{3, "<</Length 9 0 R>>\nstream\nabcde\nendstream"}}, "is not a non-negative integer", false},
		{"fail/length-refers-to-itself", []numBody{{3, "<</Length 3 0 R>>\nstream\nabcde\nendstream"}}, "refers to itself", false},
		{"fail/length-loop", []numBody{
			{3, "<</Length 4 0 R>>\nstream\nabcde\nendstream"},
			{4, "<</Length 3 0 R>>\nstream\nabcde\nendstream"},
		}, "references followed", true},
		{"fail/cr-only-after-keyword", []numBody{{3, "<</Length 5>>\nstream\rabcde\nendstream"}}, "not followed by CRLF or LF", false},
		{"fail/space-after-keyword", []numBody{{3, "<</Length 5>>\nstream \nabcde\nendstream"}}, "not followed by CRLF or LF", false},
		{"fail/no-endobj", []numBody{{3, "<</A 1>>\n4 0 obj"}}, "object 3 0 is not followed by endobj", false},
		{"fail/stream-after-array", []numBody{{3, "[1]\nstream\nabc\nendstream"}}, "object 3 0 is not followed by endobj", false},
		{"fail/two-objects", []numBody{{3, "1 2"}}, "object 3 0 is not followed by endobj", false},
		{"fail/deep-nesting", []numBody{{3, "<</A " + stringsRepeat("[", 100) + ">>"}}, "nested deeper than 64", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, o, err := openObject(t, Limits{}, 3, tt.objs...)
			checkErr(t, err, tt.wantMsg, tt.wantLimit)
			if o != nil {
				t.Errorf("Object(3 0 R) = %v with an error", o)
			}
		})
	}
}

func stringsRepeat(s string, n int) string { return string(bytes.Repeat([]byte(s), n)) }

// pngFilter applies PNG row filter typ to rows of rowLen bytes.
func pngFilter(data []byte, rowLen, bpp int, typ func(r int) byte) []byte {
	var out []byte
	prev := make([]byte, rowLen)
	for r := 0; r*rowLen < len(data); r++ {
		cur := data[r*rowLen : (r+1)*rowLen]
		ft := typ(r)
		out = append(out, ft)
		for i := range cur {
			var a, c byte
			if i >= bpp {
				a, c = cur[i-bpp], prev[i-bpp]
			}
			b := prev[i]
			var pred byte
			switch ft {
			case 1:
				pred = a
			case 2:
				pred = b
			case 3:
				pred = byte((int(a) + int(b)) / 2)
			case 4:
				pred = paeth(a, b, c)
			}
			out = append(out, cur[i]-pred)
		}
		prev = cur
	}
	return out
}

func TestDecode(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	plain := make([]byte, 15*40) // 40 rows of 5 RGB pixels
	for i := range plain {
		plain[i] = byte(rng.IntN(256))
	}
	png := deflate(pngFilter(plain, 15, 3, func(r int) byte { return byte(r % 5) }))
	tiff := bytes.Clone(plain)
	for r := 0; r < len(tiff); r += 15 {
		for i := 14; i >= 3; i-- {
			tiff[r+i] -= tiff[r+i-3]
		}
	}
	tests := []struct {
		name string
		dict string
		data []byte
		want []byte
	}{
		{"ok/no-filter", "", []byte("abc"), []byte("abc")},
		{"ok/flate", "/Filter/FlateDecode", deflate(plain), plain},
		{"ok/flate-in-array", "/Filter[/FlateDecode]", deflate(plain), plain},
		{"ok/flate-twice", "/Filter[/FlateDecode/FlateDecode]/DecodeParms[null null]", deflate(deflate(plain)), plain},
		{"ok/png-predictors", "/Filter/FlateDecode/DecodeParms<</Predictor 15/Colors 3/Columns 5>>", png, plain},
		{"ok/tiff-predictor", "/Filter/FlateDecode/DecodeParms<</Predictor 2/Colors 3/Columns 5>>", deflate(tiff), plain},
		{"ok/predictor-1", "/Filter/FlateDecode/DecodeParms<</Predictor 1/Columns 5>>", deflate(plain), plain},
		{"ok/indirect-filter", "/Filter 4 0 R", deflate(plain), plain},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, o, err := openObject(t, Limits{}, 3,
				numBody{3, fmt.Sprintf("<<%s/Length %d>>\nstream\n%s\nendstream", tt.dict, len(tt.data), tt.data)},
				numBody{4, "/FlateDecode"})
			if err != nil {
				t.Fatalf("Object() error: %v", err)
			}
			got, err := f.Decode(o.(*Stream))
			if err != nil {
				t.Fatalf("Decode() error: %v", err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Errorf("Decode() = %d bytes %q..., want %d bytes", len(got), got[:min(len(got), 16)], len(tt.want))
			}
		})
	}
}

func TestDecodeFail(t *testing.T) {
	bomb := deflate(make([]byte, DefaultMaxDecodedBytes+1))
	tests := []struct {
		name      string
		dict      string
		data      []byte
		lim       Limits
		wantMsg   string
		wantErr   error
		wantLimit bool
	}{
		{"fail/flate-bomb", "/Filter/FlateDecode", bomb, Limits{}, "stream decodes to more than 33554432 bytes", nil, true},
		{"fail/flate-bomb-small-limit", "/Filter/FlateDecode", deflate(make([]byte, 2000)), Limits{MaxDecodedBytes: 1999}, "stream decodes to more than 1999 bytes", nil, true},
		{"fail/unsupported-filter", "/Filter/DCTDecode", []byte("x"), Limits{}, "filter /DCTDecode", ErrUnsupported, false},
		{"fail/unsupported-in-chain", "/Filter[/FlateDecode/ASCIIHexDecode]", deflate([]byte("x")), Limits{}, "filter /ASCIIHexDecode", ErrUnsupported, false},
		{"fail/external-file", "/F(data.bin)", []byte("x"), Limits{}, "external file", ErrUnsupported, false},
		{"fail/filter-not-name", "/Filter 5", []byte("x"), Limits{}, "/Filter is neither a name nor an array", nil, false},
		{"fail/parms-length-mismatch", "/Filter[/FlateDecode]/DecodeParms[null null]", deflate([]byte("x")), Limits{}, "different lengths", nil, false},
		{"fail/too-many-filters", "/Filter[/FlateDecode/FlateDecode/FlateDecode/FlateDecode/FlateDecode]", []byte("x"), Limits{}, "more than 4 filters", nil, true},
		{"fail/corrupt-flate", "/Filter/FlateDecode", []byte("not zlib"), Limits{}, "flate:", nil, false},
		{"fail/truncated-flate", "/Filter/FlateDecode", deflate(make([]byte, 1000))[:8], Limits{}, "flate:", nil, false},
		{"fail/tiff-16-bit", "/Filter/FlateDecode/DecodeParms<</Predictor 2/BitsPerComponent 16>>", deflate([]byte("xx")), Limits{}, "TIFF predictor with 16 bits", ErrUnsupported, false},
		{"fail/bad-bits", "/Filter/FlateDecode/DecodeParms<</Predictor 12/BitsPerComponent 3>>", deflate([]byte("xx")), Limits{}, "/BitsPerComponent 3 invalid", nil, false},
		{"fail/bad-colors", "/Filter/FlateDecode/DecodeParms<</Predictor 12/Colors 0>>", deflate([]byte("xx")), Limits{}, "/Colors 0 out of range", nil, false},
		{"fail/huge-columns", "/Filter/FlateDecode/DecodeParms<</Predictor 12/Columns 99999999999>>", deflate([]byte("xx")), Limits{}, "/Columns 99999999999 out of range", nil, false},
		{"fail/parms-not-int", "/Filter/FlateDecode/DecodeParms<</Predictor/Up>>", deflate([]byte("xx")), Limits{}, "/Predictor is not an integer", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, o, err := openObject(t, tt.lim, 3,
				numBody{3, fmt.Sprintf("<<%s/Length %d>>\nstream\n%s\nendstream", tt.dict, len(tt.data), tt.data)})
			if err != nil {
				t.Fatalf("Object() error: %v", err)
			}
			got, err := f.Decode(o.(*Stream))
			checkErr(t, err, tt.wantMsg, tt.wantLimit)
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("Decode() error %v, want it to wrap %v", err, tt.wantErr)
			}
			if got != nil {
				t.Errorf("Decode() returned %d bytes with an error", len(got))
			}
		})
	}
}

// TestDecodeTotalLimit checks that many streams cannot decode more in
// total than MaxTotalDecodedBytes.
func TestDecodeTotalLimit(t *testing.T) {
	data := deflate(make([]byte, 6000))
	body := fmt.Sprintf("<</Filter/FlateDecode/Length %d>>\nstream\n%s\nendstream", len(data), data)
	f, err := Open(buildClassic(minimal(numBody{3, body}, numBody{4, body}), trailerRoot), Limits{MaxTotalDecodedBytes: 10000})
	if err != nil {
		t.Fatal(err)
	}
	for i, num := range []int{3, 4} {
		o, err := f.Object(Ref{num, 0})
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.Decode(o.(*Stream))
		if i == 0 && err != nil {
			t.Fatalf("Decode(first stream) error: %v", err)
		}
		if i == 1 {
			checkErr(t, err, "decoded streams exceed 10000 bytes in total", true)
		}
	}
}

// objStmFile writes minimal() whose catalog (object 1) is compressed in
// object stream 5, written as given, with a cross-reference stream.
func objStmFile(dict, content string, entry [2]int) []byte {
	w := newTestWriter()
	w.obj(2, "<</Type/Pages/Kids[]/Count 0>>")
	w.stream(5, dict, []byte(content))
	w.inStm[1] = entry
	w.note(1)
	w.xrefStream(6, trailerRoot, false)
	return w.bytes()
}

func TestObjectStream(t *testing.T) {
	good := "1 0 " + minimalCatalog
	f, err := Open(objStmFile("/Type/ObjStm/N 1/First 4", good, [2]int{5, 0}), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second read comes from the cache
		if _, err := f.Catalog(); err != nil {
			t.Fatalf("Catalog() error: %v", err)
		}
	}
	if _, ok := f.ObjectOffset(Ref{1, 0}); ok {
		t.Errorf("ObjectOffset(compressed object) ok, want not found")
	}
	if o, err := f.Object(Ref{1, 1}); o != nil || err != nil {
		t.Errorf("Object(1 1 R) = %v, %v; want nil, nil (compressed objects have generation 0)", o, err)
	}

	tests := []struct {
		name      string
		dict      string
		content   string
		entry     [2]int
		wantMsg   string
		wantLimit bool
	}{
		{"fail/holds-a-stream", "/Type/ObjStm/N 1/First 4", "1 0 <</Length 1>>stream\nx\nendstream", [2]int{5, 0}, "object 1 in object stream 5 is a stream", false},
		{"fail/index-names-other-object", "/Type/ObjStm/N 1/First 4", "7 0 " + minimalCatalog, [2]int{5, 0}, "holds object 7 at index 0, not 1", false},
		{"fail/index-out-of-range", "/Type/ObjStm/N 1/First 4", good, [2]int{5, 3}, "has no index 3", false},
		{"fail/not-objstm", "/Type/XObject/N 1/First 4", good, [2]int{5, 0}, "object 5 is not an object stream", false},
		{"fail/not-a-stream", "", "", [2]int{2, 0}, "object 2 is not an object stream", false},
		{"fail/missing-stream", "", "", [2]int{9, 0}, "object stream 9 is not an uncompressed object", false},
		{"fail/n-too-big-for-first", "/Type/ObjStm/N 100/First 4", good, [2]int{5, 0}, "/N 100 does not fit /First 4", false},
		{"fail/negative-n", "/Type/ObjStm/N -1/First 4", good, [2]int{5, 0}, "invalid /N or /First", false},
		{"fail/first-past-data", "/Type/ObjStm/N 1/First 400", good, [2]int{5, 0}, "/First 400 is past its", false},
		{"fail/bad-header", "/Type/ObjStm/N 1/First 4", "1 x " + minimalCatalog, [2]int{5, 0}, "malformed header pair 0", false},
		{"fail/offset-past-data", "/Type/ObjStm/N 1/First 4", "1 99" + minimalCatalog, [2]int{5, 0}, "malformed header pair 0", false},
		{"fail/bad-object", "/Type/ObjStm/N 1/First 4", "1 0 <</Type/Catalog", [2]int{5, 0}, "unterminated dictionary", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Open(objStmFile(tt.dict, tt.content, tt.entry), Limits{})
			if err != nil {
				t.Fatalf("Open() error: %v", err)
			}
			_, err = f.Catalog()
			checkErr(t, err, tt.wantMsg, tt.wantLimit)
		})
	}
}

// TestObjectStreamSelfReference checks that an object stream whose
// /Length lives inside itself fails instead of recursing.
func TestObjectStreamSelfReference(t *testing.T) {
	w := newTestWriter()
	w.obj(2, "<</Type/Pages/Kids[]/Count 0>>")
	header := fmt.Sprintf("1 0 4 %d ", len(minimalCatalog)+1)
	content := header + minimalCatalog + " 5"
	w.offsets[5] = int64(w.buf.Len())
	fmt.Fprintf(&w.buf, "5 0 obj\n<</Type/ObjStm/N 2/First %d/Length 4 0 R>>\nstream\n%s\nendstream\nendobj\n", len(header), content)
	w.note(5)
	w.inStm[1] = [2]int{5, 0}
	w.inStm[4] = [2]int{5, 1}
	w.xrefStream(6, trailerRoot, false)
	f, err := Open(w.bytes(), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Catalog()
	checkErr(t, err, "references followed", true)
}

// TestXRefStreamIndirectLength checks that a cross-reference stream's
// /Length must be direct: it cannot be resolved before the cross-reference
// data is read.
func TestXRefStreamIndirectLength(t *testing.T) {
	w := newTestWriter()
	for _, o := range minimal(numBody{3, "28"}) {
		w.obj(o.num, o.body)
	}
	off := w.buf.Len()
	data := rows([3]int{0, 0, 65535}, [3]int{1, int(w.offsets[1]), 0}, [3]int{1, int(w.offsets[2]), 0}, [3]int{1, int(w.offsets[3]), 0})
	fmt.Fprintf(&w.buf, "4 0 obj\n<</Type/XRef/Size 5/W[1 4 2]/Index[0 4]/Root 1 0 R/Length 3 0 R>>\nstream\n%s\nendstream\nendobj\n", data)
	w.finish(int64(off))
	_, err := Open(w.bytes(), Limits{})
	checkErr(t, err, "/Length of cross-reference stream 4 0 is indirect", false)
}

func TestValueSpan(t *testing.T) {
	sig := "<</Type/Sig/Filter/Adobe.PPKLite/SubFilter/ETSI.CAdES.detached/ByteRange[0 100 200 300]/Contents <00AB \n CD>/M(D:20261102)/Prop_Build<</Contents(x)>>>>"
	data := buildClassic(minimal(numBody{3, sig}, numBody{4, "[1]"}), trailerRoot)
	f, err := Open(data, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		key  Name
		want string
	}{
		{"ok/hex-contents", "Contents", "<00AB \n CD>"},
		{"ok/array", "ByteRange", "[0 100 200 300]"},
		{"ok/literal", "M", "(D:20261102)"},
		{"ok/name", "Type", "/Sig"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start, end, err := f.ValueSpan(Ref{3, 0}, tt.key)
			if err != nil {
				t.Fatalf("ValueSpan(%s) error: %v", tt.key, err)
			}
			if got := string(data[start:end]); got != tt.want {
				t.Errorf("ValueSpan(%s) = %q, want %q", tt.key, got, tt.want)
			}
		})
	}
	failTests := []struct {
		name    string
		ref     Ref
		key     Name
		wantMsg string
	}{
		{"fail/missing-key", Ref{3, 0}, "Cert", "top-level dictionary has no /Cert"},
		{"fail/not-a-dict", Ref{4, 0}, "Contents", "top-level dictionary has no /Contents"},
		{"fail/missing-object", Ref{9, 0}, "Contents", "not an uncompressed object"},
	}
	for _, tt := range failTests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := f.ValueSpan(tt.ref, tt.key)
			checkErr(t, err, tt.wantMsg, false)
		})
	}
}
