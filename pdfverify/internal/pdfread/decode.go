package pdfread

import (
	"bytes"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"sync"
)

// maxFilters bounds a chain of filters on one stream. Producers use one;
// a longer chain of FlateDecode only multiplies decoding work.
const maxFilters = 4

// Bounds of predictor parameters (7.4.4.4, Table 8). Colors and
// BitsPerComponent are those of images; Columns bounds a row so that row
// arithmetic cannot overflow.
const (
	maxPredictorColors  = 32
	maxPredictorColumns = 1 << 24
)

// Decode returns the decoded data of s. It supports no filter and
// FlateDecode (also chained, with /DecodeParms predictors); other filters
// and external stream files yield an error wrapping ErrUnsupported. The
// output of one stream is bounded by Limits.MaxDecodedBytes and the output
// of all streams decoded through f by Limits.MaxTotalDecodedBytes; beyond
// either the error wraps ErrLimit. A stream without filter is returned as
// its Raw bytes, which the caller must not modify.
func (f *File) Decode(s *Stream) ([]byte, error) {
	if s == nil {
		return nil, errors.New("decoding a nil stream")
	}
	return f.decode(s, 0, 0)
}

// decode is Decode with the offset to report errors at and the depth of
// references already followed.
func (f *File) decode(s *Stream, off int64, depth int) ([]byte, error) {
	if _, ok := s.Dict["F"]; ok {
		return nil, unsupportedErr(off, "stream data in an external file (/F)")
	}
	fo, err := f.resolveAt(s.Dict["Filter"], depth)
	if err != nil {
		return nil, err
	}
	po, err := f.resolveAt(s.Dict["DecodeParms"], depth)
	if err != nil {
		return nil, err
	}
	var filters, parms Array
	switch v := fo.(type) {
	case nil:
		return s.Raw, nil
	case Name:
		filters = Array{v}
		parms = Array{po}
	case Array:
		filters = v
		switch pv := po.(type) {
		case nil:
			parms = make(Array, len(v))
		case Array:
			parms = pv
		default:
			return nil, formatErr(off, "/DecodeParms of a filter array is not an array")
		}
	default:
		return nil, formatErr(off, "/Filter is neither a name nor an array")
	}
	if len(filters) > maxFilters {
		return nil, limitErr(off, "more than %d filters on one stream", maxFilters)
	}
	if len(parms) != len(filters) {
		return nil, formatErr(off, "/DecodeParms and /Filter have different lengths")
	}
	data := s.Raw
	for i, fo := range filters {
		name, ok := fo.(Name)
		if !ok {
			return nil, formatErr(off, "/Filter entry is not a name")
		}
		if name != "FlateDecode" {
			return nil, unsupportedErr(off, "filter /%s", name)
		}
		var pd Dict
		if parms[i] != nil {
			pr, err := f.resolveAt(parms[i], depth)
			if err != nil {
				return nil, err
			}
			if pd, ok = pr.(Dict); !ok && pr != nil {
				return nil, formatErr(off, "/DecodeParms entry is not a dictionary")
			}
		}
		if data, err = f.inflate(data, off); err != nil {
			return nil, err
		}
		if data, err = unpredict(data, pd, off); err != nil {
			return nil, err
		}
	}
	return data, nil
}

// inflate decompresses zlib data, within what the limits leave.
func (f *File) inflate(in []byte, off int64) ([]byte, error) {
	f.mu.Lock()
	left := f.lim.MaxTotalDecodedBytes - f.decoded
	f.mu.Unlock()
	limit := min(f.lim.MaxDecodedBytes, left)
	zr, err := newZlibReader(in)
	if err != nil {
		return nil, formatErr(off, "flate: %v", err)
	}
	defer zlibReaders.Put(zr)
	var buf bytes.Buffer
	// Most streams compress 2 to 10 times: start near there and grow,
	// without reserving much for what may be a small stream.
	buf.Grow(int(min(int64(len(in))*4+512, max(limit, 0)+1, initialInflateBuffer)))
	n, err := buf.ReadFrom(io.LimitReader(zr, limit+1))
	if err != nil {
		return nil, formatErr(off, "flate: %v", err)
	}
	if n > limit {
		if limit < f.lim.MaxDecodedBytes {
			return nil, limitErr(off, "decoded streams exceed %d bytes in total", f.lim.MaxTotalDecodedBytes)
		}
		return nil, limitErr(off, "stream decodes to more than %d bytes", f.lim.MaxDecodedBytes)
	}
	f.mu.Lock()
	f.decoded += n
	f.mu.Unlock()
	return buf.Bytes(), nil
}

// initialInflateBuffer caps the output buffer reserved before inflating.
const initialInflateBuffer = 1 << 20

// zlibReaders keeps inflaters for reuse: each holds a 32 KiB window and
// tables whose allocation costs more than inflating a small stream.
var zlibReaders sync.Pool

func newZlibReader(in []byte) (io.ReadCloser, error) {
	if zr, ok := zlibReaders.Get().(io.ReadCloser); ok {
		if err := zr.(zlib.Resetter).Reset(bytes.NewReader(in), nil); err != nil {
			zlibReaders.Put(zr)
			return nil, err
		}
		return zr, nil
	}
	return zlib.NewReader(bytes.NewReader(in))
}

// unpredict undoes a /Predictor of the parameters d (7.4.4.4).
func unpredict(data []byte, d Dict, off int64) ([]byte, error) {
	pred, err := intParam(d, "Predictor", 1, off)
	if err != nil {
		return nil, err
	}
	if pred == 1 {
		return data, nil
	}
	colors, err := intParam(d, "Colors", 1, off)
	if err != nil {
		return nil, err
	}
	bpc, err := intParam(d, "BitsPerComponent", 8, off)
	if err != nil {
		return nil, err
	}
	cols, err := intParam(d, "Columns", 1, off)
	if err != nil {
		return nil, err
	}
	if colors < 1 || colors > maxPredictorColors {
		return nil, formatErr(off, "predictor /Colors %d out of range", colors)
	}
	switch bpc {
	case 1, 2, 4, 8, 16:
	default:
		return nil, formatErr(off, "predictor /BitsPerComponent %d invalid", bpc)
	}
	if cols < 1 || cols > maxPredictorColumns {
		return nil, formatErr(off, "predictor /Columns %d out of range", cols)
	}
	bpp := int(max(1, colors*bpc/8))         // bytes per pixel, for the PNG filters
	rowLen := int((colors*bpc*cols + 7) / 8) // bytes per row of output
	switch {
	case pred == 2:
		if bpc != 8 {
			return nil, unsupportedErr(off, "TIFF predictor with %d bits per component", bpc)
		}
		if len(data)%rowLen != 0 {
			return nil, formatErr(off, "TIFF predictor: data is not a whole number of rows")
		}
		out := bytes.Clone(data)
		for r := 0; r < len(out); r += rowLen {
			row := out[r : r+rowLen]
			for i := bpp; i < len(row); i++ {
				row[i] += row[i-bpp]
			}
		}
		return out, nil
	case pred >= 10 && pred <= 15:
		return unpredictPNG(data, rowLen, bpp, off)
	default:
		return nil, formatErr(off, "unknown /Predictor %d", pred)
	}
}

// unpredictPNG undoes PNG row filters: each row is a filter-type byte and
// rowLen bytes.
func unpredictPNG(data []byte, rowLen, bpp int, off int64) ([]byte, error) {
	if len(data)%(rowLen+1) != 0 {
		return nil, formatErr(off, "PNG predictor: data is not a whole number of rows")
	}
	rows := len(data) / (rowLen + 1)
	if rows == 0 {
		return []byte{}, nil // and no row of /Columns to allocate
	}
	out := make([]byte, rows*rowLen)
	prev := make([]byte, rowLen) // the row above the first is zero
	for r := 0; r < rows; r++ {
		in := data[r*(rowLen+1)+1 : (r+1)*(rowLen+1)]
		cur := out[r*rowLen : (r+1)*rowLen]
		switch data[r*(rowLen+1)] {
		case 0:
			copy(cur, in)
		case 1: // Sub
			for i := range cur {
				var left byte
				if i >= bpp {
					left = cur[i-bpp]
				}
				cur[i] = in[i] + left
			}
		case 2: // Up
			for i := range cur {
				cur[i] = in[i] + prev[i]
			}
		case 3: // Average
			for i := range cur {
				var left int
				if i >= bpp {
					left = int(cur[i-bpp])
				}
				cur[i] = in[i] + byte((left+int(prev[i]))/2)
			}
		case 4: // Paeth
			for i := range cur {
				var a, c byte
				if i >= bpp {
					a, c = cur[i-bpp], prev[i-bpp]
				}
				cur[i] = in[i] + paeth(a, prev[i], c)
			}
		default:
			return nil, formatErr(off, "PNG predictor: unknown row filter %d", data[r*(rowLen+1)])
		}
		prev = cur
	}
	return out, nil
}

func paeth(a, b, c byte) byte {
	p := int(a) + int(b) - int(c)
	pa, pb, pc := abs(p-int(a)), abs(p-int(b)), abs(p-int(c))
	switch {
	case pa <= pb && pa <= pc:
		return a
	case pb <= pc:
		return b
	}
	return c
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// intParam returns the integer d[key], or def when d has no such key.
func intParam(d Dict, key Name, def, off int64) (int64, error) {
	o, ok := d[key]
	if !ok || o == nil {
		return def, nil
	}
	v, ok := o.(int64)
	if !ok {
		return 0, formatErr(off, "/DecodeParms /%s is not an integer", key)
	}
	return v, nil
}

// objStm is a decoded object stream (7.5.7).
type objStm struct {
	off   int64 // file offset of the stream object, for errors
	data  []byte
	first int
	nums  []int // object number at each index
	offs  []int // offset of each object, relative to first
}

// compressed returns object num stored in an object stream per entry e.
func (f *File) compressed(num int, e Entry, depth int) (Object, error) {
	os, err := f.objStm(e.InStream, depth+1)
	if err != nil {
		return nil, err
	}
	if e.Index >= len(os.nums) {
		return nil, formatErr(os.off, "object stream %d has no index %d", e.InStream, e.Index)
	}
	if os.nums[e.Index] != num {
		return nil, formatErr(os.off, "object stream %d holds object %d at index %d, not %d", e.InStream, os.nums[e.Index], e.Index, num)
	}
	p := f.newParser(os.data, os.first+os.offs[e.Index])
	p.inStream, p.base = true, os.off
	o, err := p.object(0)
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if _, ok := o.(Dict); ok && p.hasKeyword("stream") {
		return nil, formatErr(os.off, "object %d in object stream %d is a stream", num, e.InStream)
	}
	return o, nil
}

// objStm returns the decoded object stream num, from the cache when it was
// read before.
func (f *File) objStm(num int, depth int) (*objStm, error) {
	f.mu.Lock()
	os, ok := f.objStms[num]
	f.mu.Unlock()
	if ok {
		return os, nil
	}
	if depth > f.lim.MaxResolve {
		return nil, limitErr(0, "more than %d references followed reading object stream %d", f.lim.MaxResolve, num)
	}
	e, ok := f.entry(num)
	if !ok || e.Free || e.InStream != 0 || e.Gen != 0 {
		return nil, formatErr(0, "object stream %d is not an uncompressed object of generation 0", num)
	}
	_, o, err := f.parseIndirect(e.Offset, depth, parseOpts{want: &Ref{Num: num}})
	if err != nil {
		return nil, fmt.Errorf("reading object stream %d: %w", num, err)
	}
	s, ok := o.(*Stream)
	if !ok || s.Dict[keyType] != Name("ObjStm") {
		return nil, formatErr(e.Offset, "object %d is not an object stream", num)
	}
	n, ok1 := s.Dict["N"].(int64)
	first, ok2 := s.Dict["First"].(int64)
	if !ok1 || !ok2 || n < 0 || first < 0 {
		return nil, formatErr(e.Offset, "object stream %d has an invalid /N or /First", num)
	}
	// Each header pair takes at least four bytes ("1 0 "), which bounds n
	// by the data before anything is allocated for it.
	if n > int64(f.lim.MaxObjects) || n*4 > first+1 {
		return nil, formatErr(e.Offset, "object stream %d: /N %d does not fit /First %d", num, n, first)
	}
	data, err := f.decode(s, e.Offset, depth)
	if err != nil {
		return nil, fmt.Errorf("decoding object stream %d: %w", num, err)
	}
	if first > int64(len(data)) {
		return nil, formatErr(e.Offset, "object stream %d: /First %d is past its %d bytes", num, first, len(data))
	}
	os = &objStm{off: e.Offset, data: data, first: int(first), nums: make([]int, n), offs: make([]int, n)}
	p := &parser{data: data[:first]}
	for i := range n {
		skipWhite(p)
		on, ok1 := p.uint()
		skipWhite(p)
		oo, ok2 := p.uint()
		if !ok1 || !ok2 || on > maxObjNum || oo >= int64(len(data))-first {
			return nil, formatErr(e.Offset, "object stream %d: malformed header pair %d", num, i)
		}
		os.nums[i], os.offs[i] = int(on), int(oo)
	}
	f.mu.Lock()
	if f.objStms == nil {
		f.objStms = make(map[int]*objStm)
	}
	f.objStms[num] = os
	f.mu.Unlock()
	return os, nil
}
