package ingest

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"fmt"
	"strings"
	"testing"

	"github.com/revokd/revokd/internal/mailtest"
)

func zipMail(contentType, name string, body []byte) []byte {
	return mailtest.Mail("Jeanne Testeur <jeanne.testeur@example.fr>", "Révocation", "zip-1@example.fr",
		mailtest.Entity(contentType, name, body))
}

// TestParseMessageZip builds archives with Info-ZIP's zip and checks which
// PDFs come out, and why an archive is refused.
func TestParseMessageZip(t *testing.T) {
	many := map[string][]byte{}
	for i := range maxZipEntries + 1 {
		many[fmt.Sprintf("annexe-%02d.txt", i)] = []byte("annexe")
	}
	tests := []struct {
		name        string
		contentType string
		fileName    string
		body        []byte
		wantPDFs    []string
		wantReason  string // of the one Unopened archive, "" for none
	}{
		{name: "ok/form-in-zip", contentType: "application/zip", fileName: "demande.zip",
			body:     mailtest.Zip(t, map[string][]byte{"demande.pdf": samplePDF, "lisez-moi.txt": []byte("bonjour")}, ""),
			wantPDFs: []string{"demande.zip/demande.pdf"}},
		{name: "ok/form-in-a-folder-as-octet-stream", contentType: "application/octet-stream", fileName: "Demande.ZIP",
			body:     mailtest.Zip(t, map[string][]byte{"scans/formulaire": samplePDF}, ""),
			wantPDFs: []string{"Demande.ZIP/scans/formulaire"}},
		{name: "ok/x-zip-compressed-two-forms", contentType: "application/x-zip-compressed", fileName: "forms.zip",
			body:     mailtest.Zip(t, map[string][]byte{"a.pdf": samplePDF, "b.pdf": append(bytes.Clone(samplePDF), '\n')}, ""),
			wantPDFs: []string{"forms.zip/a.pdf", "forms.zip/b.pdf"}},
		{name: "ok/zip-without-pdf", contentType: "application/zip", fileName: "notes.zip",
			body: mailtest.Zip(t, map[string][]byte{"notes.txt": []byte("rien")}, "")},
		{name: "fail/encrypted-zip", contentType: "application/zip", fileName: "demande.zip",
			body: mailtest.Zip(t, map[string][]byte{"demande.pdf": samplePDF}, "secret"), wantReason: "encrypted"},
		{name: "fail/too-many-entries", contentType: "application/zip", fileName: "annexes.zip",
			body: mailtest.Zip(t, many, ""), wantReason: "entries"},
		{name: "fail/compression-bomb", contentType: "application/zip", fileName: "bomb.zip",
			body:       mailtest.Zip(t, map[string][]byte{"demande.pdf": append(bytes.Clone(samplePDF), make([]byte, 900<<10)...)}, ""),
			wantReason: "ratio"},
		{name: "fail/entry-over-the-attachment-limit", contentType: "application/zip", fileName: "big.zip",
			body:       mailtest.Zip(t, map[string][]byte{"demande.pdf": append(bytes.Clone(samplePDF), bytes.Repeat([]byte("0123456789abcdef"), 2<<20)...)}, ""),
			wantReason: "uncompressed"},
		{name: "fail/entry-lies-about-its-size", contentType: "application/zip", fileName: "demande.zip",
			body: lyingZip(t), wantReason: "demande.pdf"},
		{name: "fail/not-a-zip", contentType: "application/zip", fileName: "demande.zip",
			body: samplePDF, wantReason: "not a readable zip"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, err := ParseMessage(bytes.NewReader(zipMail(tt.contentType, tt.fileName, tt.body)), Limits{MaxAttachmentBytes: 1 << 20})
			if err != nil {
				t.Fatalf("ParseMessage() error = %v", err)
			}
			var got []string
			for _, a := range msg.Attachments {
				if a.Err != nil || !bytes.HasPrefix(a.Data, samplePDF) || a.InArchive != tt.fileName {
					t.Errorf("attachment %s: err %v, in %q, %d bytes", a.FileName, a.Err, a.InArchive, len(a.Data))
				}
				got = append(got, a.FileName)
			}
			if strings.Join(got, ",") != strings.Join(tt.wantPDFs, ",") {
				t.Errorf("PDFs = %v, want %v", got, tt.wantPDFs)
			}
			switch {
			case tt.wantReason == "" && len(msg.Unopened) > 0:
				t.Errorf("unopened = %+v, want none", msg.Unopened)
			case tt.wantReason != "" && (len(msg.Unopened) != 1 || msg.Unopened[0].Kind != UnopenedArchive ||
				!strings.Contains(msg.Unopened[0].Reason, tt.wantReason)):
				t.Errorf("unopened = %+v, want one archive refused for %q", msg.Unopened, tt.wantReason)
			}
		})
	}
}

// Outlook's winmail.dat is recognised by its type or its name and listed
// as unopened, so that the sender can be told how to resend.
func TestParseMessageTNEF(t *testing.T) {
	tnef := []byte{0x78, 0x9f, 0x3e, 0x22, 0x01, 0x00, 0x01, 0x06, 0x90, 0x08, 0x00}
	for _, tc := range []struct{ name, contentType, fileName string }{
		{"ok/ms-tnef", "application/ms-tnef", "winmail.dat"},
		{"ok/vnd-ms-tnef", "application/vnd.ms-tnef", "attachment.dat"},
		{"ok/octet-stream-named-winmail", "application/octet-stream", "WINMAIL.DAT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg, err := ParseMessage(bytes.NewReader(zipMail(tc.contentType, tc.fileName, tnef)), Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if len(msg.Unopened) != 1 || msg.Unopened[0].Kind != UnopenedTNEF || len(msg.Attachments) != 0 {
				t.Errorf("unopened %+v, attachments %v; want one winmail part and no PDF", msg.Unopened, summary(msg.Attachments))
			}
		})
	}
}

// lyingZip is a forged archive whose entry declares 100 bytes, compressed
// and not, while its deflate stream expands to 512 KiB.
func lyingZip(t *testing.T) []byte {
	t.Helper()
	var deflated bytes.Buffer
	fw, _ := flate.NewWriter(&deflated, flate.BestCompression)
	fw.Write(samplePDF)
	fw.Write(make([]byte, 512<<10))
	fw.Close()
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	w, err := zw.CreateRaw(&zip.FileHeader{Name: "demande.pdf", Method: zip.Deflate,
		CompressedSize64: uint64(deflated.Len()), UncompressedSize64: 100, CRC32: 0})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(deflated.Bytes())
	zw.Close()
	return out.Bytes()
}
