package ingest

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/emersion/go-message/textproto"
)

// Limits of the .zip archives opened to find forms. A request zips one
// form, maybe with a few annexes; beyond these the archive is listed in
// Message.Unopened (UnopenedArchive) and the sender asked to attach the
// PDF itself.
const (
	// maxZipEntries bounds the entries of one archive: a form and its
	// annexes are a handful, and each entry costs a directory record
	// (go's archive/zip reads the whole directory up front).
	maxZipEntries = 64
	// maxZipTotalBytes bounds the bytes decompressed from one archive,
	// all entries together: two forms at the largest PDF size by default.
	maxZipTotalBytes int64 = 2 * DefaultMaxAttachmentBytes
	// maxZipRatio bounds an entry's uncompressed size over its compressed
	// size. A signed PDF is mostly compressed streams and a certificate
	// chain, and zips to 70-95 % of its size; deflate can reach about
	// 1000:1, which is what a zip bomb uses.
	maxZipRatio = 100
)

// isZip reports a .zip archive part.
func isZip(mediaType, name string) bool {
	switch mediaType {
	case "application/zip", "application/x-zip-compressed", "application/x-zip":
		return true
	}
	return !strings.HasPrefix(mediaType, "text/") && strings.HasSuffix(strings.ToLower(strings.TrimSpace(name)), ".zip")
}

// isTNEF reports Outlook's winmail.dat.
func isTNEF(mediaType, name string) bool {
	switch mediaType {
	case "application/ms-tnef", "application/vnd.ms-tnef":
		return true
	}
	return strings.EqualFold(strings.TrimSpace(name), "winmail.dat")
}

// zip reads the archive part at path and keeps its PDF entries as
// attachments, named "archive.zip/entry.pdf". Archives inside the archive
// are not opened.
func (w *walker) zip(h textproto.Header, name string, body io.Reader, path string) error {
	unopened := func(format string, args ...any) error {
		w.msg.Unopened = append(w.msg.Unopened, Unopened{Path: path, FileName: name, Kind: UnopenedArchive,
			Reason: fmt.Sprintf(format, args...)})
		return nil
	}
	decoded, encErr := transferDecoder(h, body)
	if encErr != nil {
		return unopened("archive part: %v", encErr)
	}
	data, err := io.ReadAll(io.LimitReader(decoded, w.lim.MaxAttachmentBytes+1))
	switch {
	case err != nil:
		return unopened("archive cannot be decoded: %v", err)
	case int64(len(data)) > w.lim.MaxAttachmentBytes:
		return unopened("archive over %d bytes", w.lim.MaxAttachmentBytes)
	}
	pdfs, err := readZip(data, w.lim.MaxAttachmentBytes)
	if err != nil {
		return unopened("%v", err)
	}
	for _, p := range pdfs {
		w.msg.Attachments = append(w.msg.Attachments, Attachment{
			FileName: name + "/" + p.name, ContentType: "application/pdf", Path: path, Data: p.data, InArchive: name,
		})
	}
	return nil
}

type zipPDF struct {
	name string
	data []byte
}

// readZip returns the PDF entries of a zip archive: those named *.pdf and
// those whose content starts with "%PDF-". It fails on the first limit
// broken, an encrypted or damaged entry: an archive is read whole or not
// at all, so that a sender is never answered about half of it.
func readZip(data []byte, maxEntryBytes int64) ([]zipPDF, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("not a readable zip archive: %w", err)
	}
	if len(zr.File) > maxZipEntries {
		return nil, fmt.Errorf("archive has %d entries, more than the %d allowed", len(zr.File), maxZipEntries)
	}
	var (
		out   []zipPDF
		total int64
	)
	for _, f := range zr.File {
		if f.FileInfo().IsDir() {
			continue
		}
		if f.Flags&0x1 != 0 {
			return nil, fmt.Errorf("entry %q is encrypted", f.Name)
		}
		if f.UncompressedSize64 > uint64(maxEntryBytes) {
			return nil, fmt.Errorf("entry %q is %d bytes uncompressed, more than %d", f.Name, f.UncompressedSize64, maxEntryBytes)
		}
		if f.CompressedSize64 == 0 && f.UncompressedSize64 > 0 ||
			f.CompressedSize64 > 0 && f.UncompressedSize64/f.CompressedSize64 > maxZipRatio {
			return nil, fmt.Errorf("entry %q expands %d bytes to %d, over the %d:1 ratio allowed", f.Name,
				f.CompressedSize64, f.UncompressedSize64, maxZipRatio)
		}
		named := strings.HasSuffix(strings.ToLower(f.Name), ".pdf")
		rc, err := f.Open()
		if err != nil {
			return nil, fmt.Errorf("entry %q: %w", f.Name, err)
		}
		// The declared sizes are the sender's word: the reads are bounded
		// by the limits themselves (archive/zip also fails an entry that
		// is longer than it declares).
		limit := min(int64(f.UncompressedSize64), maxEntryBytes, maxZipTotalBytes-total)
		var b []byte
		if named {
			b, err = io.ReadAll(io.LimitReader(rc, limit+1))
		} else {
			b = make([]byte, len(pdfMagic))
			var n int
			n, err = io.ReadFull(rc, b)
			b = b[:n]
			if err == io.ErrUnexpectedEOF || err == io.EOF {
				err = nil
			}
			if err == nil && bytes.Equal(b, pdfMagic) {
				var rest []byte
				rest, err = io.ReadAll(io.LimitReader(rc, limit+1-int64(n)))
				b = append(b, rest...)
				named = true
			}
		}
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("entry %q: %w", f.Name, err)
		}
		if int64(len(b)) > limit {
			return nil, fmt.Errorf("entry %q is longer than it declares or than the %d bytes left to the archive", f.Name, maxZipTotalBytes-total)
		}
		total += int64(len(b))
		if named {
			out = append(out, zipPDF{name: f.Name, data: b})
		}
	}
	return out, nil
}
