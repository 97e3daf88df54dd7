package pdfread

import "bytes"

// ContentOp is one operation of a content stream (PDF 32000-1 7.8.2): an
// operator and the operands before it.
type ContentOp struct {
	Operator string
	Operands []Object
}

// ContentOps splits decoded content stream data into operations. Inline
// images (BI ... ID data EI) become one "BI" operation without operands.
// Like every parse here it is bounded: by Limits.MaxValues operands and
// operators in all, and by Limits.MaxDepth for arrays and dictionaries.
func (f *File) ContentOps(data []byte) ([]ContentOp, error) {
	p := f.newParser(data, 0)
	var ops []ContentOp
	var operands []Object
	for {
		p.skipSpace()
		if p.pos >= len(p.data) {
			if len(operands) > 0 {
				return nil, p.errf(p.pos, "content stream ends with %d operand(s) and no operator", len(operands))
			}
			return ops, nil
		}
		c := p.data[p.pos]
		if isRegular(c) && !(c == '+' || c == '-' || c == '.' || isDigit(c)) {
			start := p.pos
			tok := string(p.token())
			switch tok {
			case "true", "false", "null":
				p.pos = start
			default:
				p.values--
				if p.values < 0 {
					return nil, limitErr(p.off(start), "content stream has more operations than allowed")
				}
				if tok == "BI" {
					if err := p.skipInlineImage(); err != nil {
						return nil, err
					}
				}
				ops = append(ops, ContentOp{Operator: tok, Operands: operands})
				operands = nil
				continue
			}
		}
		o, err := p.object(0)
		if err != nil {
			return nil, err
		}
		operands = append(operands, o)
	}
}

// skipInlineImage moves past an inline image's dictionary and data, to
// just after its EI operator, which must stand alone between white-space.
func (p *parser) skipInlineImage() error {
	start := p.pos
	for {
		p.skipSpace()
		if p.hasKeyword("ID") {
			p.pos += len("ID") + 1
			break
		}
		if p.pos >= len(p.data) {
			return p.errf(start, "inline image without ID")
		}
		if _, err := p.object(0); err != nil {
			return err
		}
	}
	for from := p.pos; ; {
		i := bytes.Index(p.data[from:], []byte("EI"))
		if i < 0 {
			return p.errf(start, "inline image without EI")
		}
		at := from + i
		end := at + 2
		if at > 0 && isSpace(p.data[at-1]) && (end == len(p.data) || !isRegular(p.data[end])) {
			p.pos = end
			return nil
		}
		from = end
	}
}
