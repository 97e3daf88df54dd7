package testsign

import (
	"bytes"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// This reader exists so that Sign, AddDSS and the attacks can amend files
// this package wrote (and files of other producers that follow the
// specification). It trusts its input more than a verifier may: it is not
// the verifier's parser and must never become it.

// Limits that keep a malformed input from hanging a test.
const (
	// maxNesting bounds arrays and dictionaries inside one another; the
	// reference form nests four deep.
	maxNesting = 64
	// maxXRefSections bounds the /Prev chain: one section per revision, and
	// no test builds more than a handful of revisions.
	maxXRefSections = 1000
	// maxRefChain bounds references that resolve to references.
	maxRefChain = 32
	// startxrefWindow is how far from the end "startxref" is looked for;
	// the specification puts it in the last 1024 bytes, and some producers
	// add trailing garbage.
	startxrefWindow = 4096
	// maxDecodedStream bounds a decoded cross-reference or object stream.
	maxDecodedStream = 64 << 20
)

var errNotFound = errors.New("not found")

type xrefEntry struct {
	kind byte  // 0 free, 1 in the file, 2 in an object stream
	off  int64 // kind 1: byte offset
	stm  int   // kind 2: object stream number
	idx  int   // kind 2: index inside the object stream
}

// document is a parsed PDF: its bytes, its merged cross-reference and the
// trailer of its last revision.
type document struct {
	b          []byte
	trailer    *pdfDict
	xrefStream bool  // the last revision has a cross-reference stream
	startxref  int64 // offset of the last cross-reference section
	entries    map[int]xrefEntry
	objstms    map[int][]object
}

func parseDocument(b []byte) (*document, error) {
	d := &document{b: b, entries: map[int]xrefEntry{}, objstms: map[int][]object{}}
	from := max(0, len(b)-startxrefWindow)
	i := bytes.LastIndex(b[from:], []byte("startxref"))
	if i < 0 {
		return nil, errors.New("startxref not found")
	}
	p := &parser{b: b, pos: from + i + len("startxref")}
	off, err := p.parseInt()
	if err != nil {
		return nil, fmt.Errorf("reading startxref: %w", err)
	}
	d.startxref = off
	seen := map[int64]bool{}
	for n := 0; off != 0 || n == 0; n++ {
		if n >= maxXRefSections {
			return nil, errors.New("too many cross-reference sections")
		}
		if seen[off] {
			return nil, fmt.Errorf("cross-reference loop at offset %d", off)
		}
		seen[off] = true
		trailer, isStream, err := d.readXRefSection(off)
		if err != nil {
			return nil, fmt.Errorf("reading cross-reference at %d: %w", off, err)
		}
		if n == 0 {
			d.trailer, d.xrefStream = trailer, isStream
		}
		if stm, ok := trailer.get("XRefStm").(int64); ok && !seen[stm] {
			seen[stm] = true
			if _, _, err := d.readXRefSection(stm); err != nil {
				return nil, fmt.Errorf("reading hybrid cross-reference stream: %w", err)
			}
		}
		prev, ok := trailer.get("Prev").(int64)
		if !ok {
			break
		}
		off = prev
	}
	return d, nil
}

func (d *document) readXRefSection(off int64) (*pdfDict, bool, error) {
	if off < 0 || off >= int64(len(d.b)) {
		return nil, false, fmt.Errorf("offset %d outside the file", off)
	}
	p := &parser{b: d.b, pos: int(off)}
	p.skipWS()
	if bytes.HasPrefix(d.b[p.pos:], []byte("xref")) {
		p.pos += len("xref")
		t, err := d.readXRefTable(p)
		return t, false, err
	}
	_, o, err := p.parseIndirect(d)
	if err != nil {
		return nil, true, err
	}
	s, ok := o.(*pdfStream)
	if !ok || s.dict.get("Type") != pdfName("XRef") {
		return nil, true, errors.New("neither a table nor a cross-reference stream")
	}
	return s.dict, true, d.readXRefStream(s)
}

func (d *document) readXRefTable(p *parser) (*pdfDict, error) {
	for {
		p.skipWS()
		if bytes.HasPrefix(d.b[p.pos:], []byte("trailer")) {
			p.pos += len("trailer")
			o, err := p.parseObject(0)
			if err != nil {
				return nil, fmt.Errorf("reading trailer: %w", err)
			}
			t, ok := o.(*pdfDict)
			if !ok {
				return nil, errors.New("trailer is not a dictionary")
			}
			return t, nil
		}
		start, err := p.parseInt()
		if err != nil {
			return nil, err
		}
		count, err := p.parseInt()
		if err != nil {
			return nil, err
		}
		if count < 0 || count > int64(len(d.b))/18 {
			return nil, fmt.Errorf("bad subsection count %d", count)
		}
		for i := int64(0); i < count; i++ {
			off, err := p.parseInt()
			if err != nil {
				return nil, err
			}
			if _, err := p.parseInt(); err != nil {
				return nil, err
			}
			p.skipWS()
			if p.pos >= len(d.b) {
				return nil, io.ErrUnexpectedEOF
			}
			kind := d.b[p.pos]
			p.pos++
			num := int(start + i)
			if _, ok := d.entries[num]; ok {
				continue
			}
			switch kind {
			case 'n':
				d.entries[num] = xrefEntry{kind: 1, off: off}
			case 'f':
				d.entries[num] = xrefEntry{kind: 0}
			default:
				return nil, fmt.Errorf("bad entry type %q", kind)
			}
		}
	}
}

func (d *document) readXRefStream(s *pdfStream) error {
	data, err := decodeStream(s)
	if err != nil {
		return err
	}
	w, ok := s.dict.get("W").(pdfArray)
	if !ok || len(w) != 3 {
		return errors.New("bad /W")
	}
	var ws [3]int
	for i := range ws {
		v, ok := w[i].(int64)
		if !ok || v < 0 || v > 8 {
			return errors.New("bad /W")
		}
		ws[i] = int(v)
	}
	size, _ := s.dict.get("Size").(int64)
	index := pdfArray{int64(0), size}
	if ix, ok := s.dict.get("Index").(pdfArray); ok {
		index = ix
	}
	rowLen := ws[0] + ws[1] + ws[2]
	if rowLen == 0 {
		return errors.New("bad /W")
	}
	field := func(row []byte, i int, def int64) int64 {
		start := 0
		for j := 0; j < i; j++ {
			start += ws[j]
		}
		if ws[i] == 0 {
			return def
		}
		var v int64
		for _, c := range row[start : start+ws[i]] {
			v = v<<8 | int64(c)
		}
		return v
	}
	pos := 0
	for k := 0; k+1 < len(index); k += 2 {
		start, ok1 := index[k].(int64)
		count, ok2 := index[k+1].(int64)
		if !ok1 || !ok2 || count < 0 {
			return errors.New("bad /Index")
		}
		for i := int64(0); i < count; i++ {
			if pos+rowLen > len(data) {
				return errors.New("cross-reference stream too short")
			}
			row := data[pos : pos+rowLen]
			pos += rowLen
			num := int(start + i)
			if _, ok := d.entries[num]; ok {
				continue
			}
			switch field(row, 0, 1) {
			case 0:
				d.entries[num] = xrefEntry{kind: 0}
			case 1:
				d.entries[num] = xrefEntry{kind: 1, off: field(row, 1, 0)}
			case 2:
				d.entries[num] = xrefEntry{kind: 2, stm: int(field(row, 1, 0)), idx: int(field(row, 2, 0))}
			}
		}
	}
	return nil
}

// get returns object num of the latest revision.
func (d *document) get(num int) (object, error) {
	e, ok := d.entries[num]
	if !ok || e.kind == 0 {
		return nil, fmt.Errorf("object %d: %w", num, errNotFound)
	}
	if e.kind == 2 {
		objs, err := d.objectStream(e.stm)
		if err != nil {
			return nil, fmt.Errorf("object %d: %w", num, err)
		}
		if e.idx < 0 || e.idx >= len(objs) {
			return nil, fmt.Errorf("object %d: index %d outside its object stream", num, e.idx)
		}
		return objs[e.idx], nil
	}
	if e.off < 0 || e.off >= int64(len(d.b)) {
		return nil, fmt.Errorf("object %d: offset %d outside the file", num, e.off)
	}
	p := &parser{b: d.b, pos: int(e.off)}
	ref, o, err := p.parseIndirect(d)
	if err != nil {
		return nil, fmt.Errorf("object %d: %w", num, err)
	}
	if ref.num != num {
		return nil, fmt.Errorf("object %d: offset holds object %d", num, ref.num)
	}
	return o, nil
}

func (d *document) objectStream(num int) ([]object, error) {
	if objs, ok := d.objstms[num]; ok {
		return objs, nil
	}
	e := d.entries[num]
	if e.kind != 1 {
		return nil, fmt.Errorf("object stream %d is not in the file", num)
	}
	o, err := d.get(num)
	if err != nil {
		return nil, err
	}
	s, ok := o.(*pdfStream)
	if !ok {
		return nil, fmt.Errorf("object stream %d is not a stream", num)
	}
	data, err := decodeStream(s)
	if err != nil {
		return nil, fmt.Errorf("object stream %d: %w", num, err)
	}
	n, _ := s.dict.get("N").(int64)
	first, _ := s.dict.get("First").(int64)
	if n < 0 || first < 0 || first > int64(len(data)) || n > int64(len(data)) {
		return nil, fmt.Errorf("object stream %d: bad /N or /First", num)
	}
	hp := &parser{b: data[:first]}
	objs := make([]object, n)
	for i := range objs {
		if _, err := hp.parseInt(); err != nil {
			return nil, fmt.Errorf("object stream %d header: %w", num, err)
		}
		off, err := hp.parseInt()
		if err != nil {
			return nil, fmt.Errorf("object stream %d header: %w", num, err)
		}
		if first+off > int64(len(data)) || off < 0 {
			return nil, fmt.Errorf("object stream %d: bad offset", num)
		}
		op := &parser{b: data, pos: int(first + off)}
		if objs[i], err = op.parseObject(0); err != nil {
			return nil, fmt.Errorf("object stream %d, object %d: %w", num, i, err)
		}
	}
	d.objstms[num] = objs
	return objs, nil
}

// resolve follows references until it reaches a direct object.
func (d *document) resolve(o object) (object, error) {
	for range maxRefChain {
		r, ok := o.(pdfRef)
		if !ok {
			return o, nil
		}
		var err error
		if o, err = d.get(r.num); err != nil {
			return nil, err
		}
	}
	return nil, errors.New("reference chain too long")
}

func (d *document) dict(o object) (*pdfDict, error) {
	o, err := d.resolve(o)
	if err != nil {
		return nil, err
	}
	switch v := o.(type) {
	case *pdfDict:
		return v, nil
	case *pdfStream:
		return v.dict, nil
	}
	return nil, fmt.Errorf("%T is not a dictionary", o)
}

// maxObjectNumber is the highest object number the file uses: new objects
// of an update are numbered after it.
func (d *document) maxObjectNumber() int {
	m := 0
	for n := range d.entries {
		m = max(m, n)
	}
	if s, ok := d.trailer.get("Size").(int64); ok && int(s)-1 > m {
		m = int(s) - 1
	}
	return m
}

// objectOffset is the byte offset of object num if it is stored directly in
// the file.
func (d *document) objectOffset(num int) (int64, error) {
	e, ok := d.entries[num]
	if !ok || e.kind != 1 {
		return 0, fmt.Errorf("object %d is not stored directly in the file", num)
	}
	return e.off, nil
}

// valueSpan returns where, in the file, the value of key lies in the
// dictionary of the direct object num: [start, end).
func (d *document) valueSpan(num int, key pdfName) (int, int, error) {
	off, err := d.objectOffset(num)
	if err != nil {
		return 0, 0, err
	}
	p := &parser{b: d.b, pos: int(off)}
	for _, want := range []string{"int", "int", "obj"} {
		if want == "obj" {
			if err := p.expectKeyword("obj"); err != nil {
				return 0, 0, err
			}
		} else if _, err := p.parseInt(); err != nil {
			return 0, 0, err
		}
	}
	p.skipWS()
	if !bytes.HasPrefix(d.b[p.pos:], []byte("<<")) {
		return 0, 0, fmt.Errorf("object %d is not a dictionary", num)
	}
	p.pos += 2
	for {
		p.skipWS()
		if bytes.HasPrefix(d.b[p.pos:], []byte(">>")) {
			return 0, 0, fmt.Errorf("object %d has no /%s: %w", num, key, errNotFound)
		}
		k, err := p.parseObject(1)
		if err != nil {
			return 0, 0, err
		}
		p.skipWS()
		start := p.pos
		if _, err := p.parseObject(1); err != nil {
			return 0, 0, err
		}
		if k == key {
			return start, p.pos, nil
		}
	}
}

// decodeStream undoes the filters this package and common producers use:
// none, or FlateDecode with an optional PNG predictor.
func decodeStream(s *pdfStream) ([]byte, error) {
	var filters pdfArray
	switch f := s.dict.get("Filter").(type) {
	case nil:
	case pdfName:
		filters = pdfArray{f}
	case pdfArray:
		filters = f
	default:
		return nil, fmt.Errorf("bad /Filter %T", f)
	}
	var parms pdfArray
	switch p := s.dict.get("DecodeParms").(type) {
	case *pdfDict:
		parms = pdfArray{p}
	case pdfArray:
		parms = p
	}
	data := s.data
	for i, f := range filters {
		if f != pdfName("FlateDecode") {
			return nil, fmt.Errorf("unsupported filter %v", f)
		}
		zr, err := zlib.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("inflating: %w", err)
		}
		out, err := io.ReadAll(io.LimitReader(zr, maxDecodedStream+1))
		if err != nil {
			return nil, fmt.Errorf("inflating: %w", err)
		}
		if len(out) > maxDecodedStream {
			return nil, errors.New("decoded stream too large")
		}
		data = out
		if i < len(parms) {
			if pd, ok := parms[i].(*pdfDict); ok {
				if data, err = unpredict(data, pd); err != nil {
					return nil, err
				}
			}
		}
	}
	return data, nil
}

// unpredict reverses a PNG predictor (the only kind cross-reference streams
// use in practice).
func unpredict(data []byte, parms *pdfDict) ([]byte, error) {
	pred, _ := parms.get("Predictor").(int64)
	if pred < 10 {
		if pred > 1 {
			return nil, fmt.Errorf("unsupported predictor %d", pred)
		}
		return data, nil
	}
	cols, ok := parms.get("Columns").(int64)
	if !ok {
		cols = 1
	}
	if cols <= 0 || cols > 1<<20 {
		return nil, errors.New("bad /Columns")
	}
	rowLen := int(cols)
	var out []byte
	prev := make([]byte, rowLen)
	for pos := 0; pos+rowLen+1 <= len(data); pos += rowLen + 1 {
		ft := data[pos]
		row := bytes.Clone(data[pos+1 : pos+1+rowLen])
		for i := range row {
			var left, upLeft byte
			if i > 0 {
				left, upLeft = row[i-1], prev[i-1]
			}
			up := prev[i]
			switch ft {
			case 0:
			case 1:
				row[i] += left
			case 2:
				row[i] += up
			case 3:
				row[i] += byte((int(left) + int(up)) / 2)
			case 4:
				row[i] += paeth(left, up, upLeft)
			default:
				return nil, fmt.Errorf("bad PNG filter type %d", ft)
			}
		}
		out = append(out, row...)
		prev = row
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

// parser reads PDF objects from b starting at pos.
type parser struct {
	b   []byte
	pos int
}

func (p *parser) skipWS() {
	for p.pos < len(p.b) {
		c := p.b[p.pos]
		if isWhite(c) {
			p.pos++
			continue
		}
		if c == '%' {
			for p.pos < len(p.b) && p.b[p.pos] != '\n' && p.b[p.pos] != '\r' {
				p.pos++
			}
			continue
		}
		return
	}
}

func (p *parser) token() string {
	p.skipWS()
	start := p.pos
	for p.pos < len(p.b) && isRegular(p.b[p.pos]) {
		p.pos++
	}
	return string(p.b[start:p.pos])
}

func (p *parser) expectKeyword(kw string) error {
	save := p.pos
	if t := p.token(); t != kw {
		p.pos = save
		return fmt.Errorf("at %d: want %q, got %q", save, kw, t)
	}
	return nil
}

func (p *parser) parseInt() (int64, error) {
	save := p.pos
	t := p.token()
	v, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		p.pos = save
		return 0, fmt.Errorf("at %d: want an integer, got %q", save, t)
	}
	return v, nil
}

// parseIndirect reads "num gen obj ... endobj" at pos; d resolves an
// indirect /Length (nil: no resolution).
func (p *parser) parseIndirect(d *document) (pdfRef, object, error) {
	num, err := p.parseInt()
	if err != nil {
		return pdfRef{}, nil, err
	}
	gen, err := p.parseInt()
	if err != nil {
		return pdfRef{}, nil, err
	}
	if err := p.expectKeyword("obj"); err != nil {
		return pdfRef{}, nil, err
	}
	ref := pdfRef{int(num), int(gen)}
	o, err := p.parseObject(0)
	if err != nil {
		return ref, nil, err
	}
	dict, ok := o.(*pdfDict)
	if !ok {
		return ref, o, nil
	}
	save := p.pos
	if p.token() != "stream" {
		p.pos = save
		return ref, o, nil
	}
	// The keyword is followed by CRLF or LF, never by CR alone.
	if p.pos < len(p.b) && p.b[p.pos] == '\r' {
		p.pos++
	}
	if p.pos < len(p.b) && p.b[p.pos] == '\n' {
		p.pos++
	}
	start := p.pos
	length := int64(-1)
	switch l := dict.get("Length").(type) {
	case int64:
		length = l
	case pdfRef:
		// The length object is read without resolving anything further,
		// so that a stream whose /Length refers to itself cannot recurse.
		if d != nil {
			if e, ok := d.entries[l.num]; ok && e.kind == 1 && e.off >= 0 && e.off < int64(len(d.b)) {
				lp := &parser{b: d.b, pos: int(e.off)}
				if _, v, err := lp.parseIndirect(nil); err == nil {
					if n, ok := v.(int64); ok {
						length = n
					}
				}
			}
		}
	}
	if length < 0 || int64(start)+length > int64(len(p.b)) ||
		!bytes.HasPrefix(bytes.TrimLeft(p.b[start+int(length):], "\r\n \t"), []byte("endstream")) {
		i := bytes.Index(p.b[start:], []byte("endstream"))
		if i < 0 {
			return ref, nil, errors.New("endstream not found")
		}
		length = int64(i)
		for length > 0 && (p.b[start+int(length)-1] == '\n' || p.b[start+int(length)-1] == '\r') {
			length--
		}
	}
	data := p.b[start : start+int(length)]
	dict = dict.clone()
	dict.del("Length")
	p.pos = start + int(length)
	p.pos += bytes.Index(p.b[p.pos:], []byte("endstream")) + len("endstream")
	return ref, &pdfStream{dict: dict, data: data}, nil
}

func (p *parser) parseObject(depth int) (object, error) {
	if depth > maxNesting {
		return nil, errors.New("objects nested too deep")
	}
	p.skipWS()
	if p.pos >= len(p.b) {
		return nil, io.ErrUnexpectedEOF
	}
	c := p.b[p.pos]
	switch {
	case c == '/':
		p.pos++
		return p.parseName(), nil
	case c == '(':
		return p.parseLiteral()
	case c == '<' && p.pos+1 < len(p.b) && p.b[p.pos+1] == '<':
		p.pos += 2
		d := &pdfDict{}
		for {
			p.skipWS()
			if bytes.HasPrefix(p.b[p.pos:], []byte(">>")) {
				p.pos += 2
				return d, nil
			}
			k, err := p.parseObject(depth + 1)
			if err != nil {
				return nil, err
			}
			kn, ok := k.(pdfName)
			if !ok {
				return nil, fmt.Errorf("at %d: dictionary key is %T", p.pos, k)
			}
			v, err := p.parseObject(depth + 1)
			if err != nil {
				return nil, err
			}
			d.entries = append(d.entries, dictEntry{kn, v})
		}
	case c == '<':
		p.pos++
		end := bytes.IndexByte(p.b[p.pos:], '>')
		if end < 0 {
			return nil, errors.New("unterminated hex string")
		}
		raw := p.b[p.pos : p.pos+end]
		p.pos += end + 1
		var digits []byte
		for _, h := range raw {
			if !isWhite(h) {
				digits = append(digits, h)
			}
		}
		if len(digits)%2 == 1 {
			digits = append(digits, '0')
		}
		out := make([]byte, len(digits)/2)
		for i := range out {
			v, err := strconv.ParseUint(string(digits[2*i:2*i+2]), 16, 8)
			if err != nil {
				return nil, fmt.Errorf("bad hex string: %w", err)
			}
			out[i] = byte(v)
		}
		return pdfString{b: out, hex: true}, nil
	case c == '[':
		p.pos++
		var a pdfArray
		for {
			p.skipWS()
			if p.pos < len(p.b) && p.b[p.pos] == ']' {
				p.pos++
				if a == nil {
					a = pdfArray{}
				}
				return a, nil
			}
			v, err := p.parseObject(depth + 1)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
	}
	save := p.pos
	t := p.token()
	switch t {
	case "true":
		return true, nil
	case "false":
		return false, nil
	case "null":
		return nil, nil
	case "":
		return nil, fmt.Errorf("at %d: unexpected %q", save, c)
	}
	if i, err := strconv.ParseInt(t, 10, 64); err == nil {
		// "num gen R" is a reference.
		after := p.pos
		if gen, err := p.parseInt(); err == nil && gen >= 0 && p.token() == "R" {
			return pdfRef{int(i), int(gen)}, nil
		}
		p.pos = after
		return i, nil
	}
	if f, err := strconv.ParseFloat(t, 64); err == nil {
		return f, nil
	}
	return nil, fmt.Errorf("at %d: unexpected token %q", save, t)
}

func (p *parser) parseName() pdfName {
	var out []byte
	for p.pos < len(p.b) {
		c := p.b[p.pos]
		if isWhite(c) || isDelimiter(c) {
			break
		}
		if c == '#' && p.pos+2 < len(p.b) {
			if v, err := strconv.ParseUint(string(p.b[p.pos+1:p.pos+3]), 16, 8); err == nil {
				out = append(out, byte(v))
				p.pos += 3
				continue
			}
		}
		out = append(out, c)
		p.pos++
	}
	return pdfName(out)
}

func (p *parser) parseLiteral() (object, error) {
	p.pos++ // (
	var out []byte
	depth := 1
	for p.pos < len(p.b) {
		c := p.b[p.pos]
		p.pos++
		switch c {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return pdfString{b: out}, nil
			}
		case '\r':
			// An unescaped end of line in a literal string reads as LF.
			if p.pos < len(p.b) && p.b[p.pos] == '\n' {
				p.pos++
			}
			c = '\n'
		case '\\':
			if p.pos >= len(p.b) {
				return nil, io.ErrUnexpectedEOF
			}
			e := p.b[p.pos]
			p.pos++
			switch e {
			case 'n':
				c = '\n'
			case 'r':
				c = '\r'
			case 't':
				c = '\t'
			case 'b':
				c = '\b'
			case 'f':
				c = '\f'
			case '\r':
				if p.pos < len(p.b) && p.b[p.pos] == '\n' {
					p.pos++
				}
				continue
			case '\n':
				continue
			default:
				if e >= '0' && e <= '7' {
					v := int(e - '0')
					for k := 0; k < 2 && p.pos < len(p.b) && p.b[p.pos] >= '0' && p.b[p.pos] <= '7'; k++ {
						v = v*8 + int(p.b[p.pos]-'0')
						p.pos++
					}
					c = byte(v)
				} else {
					c = e
				}
			}
		}
		out = append(out, c)
	}
	return nil, errors.New("unterminated string")
}
