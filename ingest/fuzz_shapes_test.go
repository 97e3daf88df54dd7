package ingest

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// seedBody returns the base64 body of the last part of a seed mail, decoded.
func seedBody(f *testing.F, file string) []byte {
	f.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		f.Fatal(err)
	}
	i := bytes.LastIndex(raw, []byte("\r\n\r\n"))
	body := strings.NewReplacer("\r", "", "\n", "").Replace(string(raw[i+4:]))
	if j := strings.Index(body, "--"); j >= 0 {
		body = body[:j]
	}
	b, err := base64.StdEncoding.DecodeString(body)
	if err != nil {
		f.Fatalf("%s: %v", file, err)
	}
	return b
}

func FuzzOpenSMIME(f *testing.F) {
	for _, file := range []string{"shape-smime-opaque.eml", "shape-smime-opaque-ber.eml", "shape-smime-encrypted.eml"} {
		f.Add(seedBody(f, file))
	}
	f.Add([]byte{0x30, 0x80, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02, 0xa0, 0x80, 0x00, 0x00, 0x00, 0x00})
	os.Chmod(seedKeyFile, 0o600)
	dec, err := LoadDecrypter(seedCertFile, seedKeyFile)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		layer, content, err := openSMIME(data, dec)
		if err != nil {
			if layer != nil || content != nil {
				t.Fatalf("openSMIME() = %+v, %d bytes with error %v", layer, len(content), err)
			}
			return
		}
		if layer.Kind != SMIMESigned && layer.Kind != SMIMEEncrypted {
			t.Fatalf("layer kind %q", layer.Kind)
		}
		if layer.Kind == SMIMESigned && (layer.SignatureValid == (layer.SignatureError != "") || len(content) == 0) {
			t.Fatalf("signed layer %+v with %d bytes of content", layer, len(content))
		}
		if der, err := berToDER(data); err == nil {
			if again, err := berToDER(der); err != nil || !bytes.Equal(again, der) {
				t.Fatalf("berToDER is not idempotent: %v", err)
			}
		}
	})
}

func FuzzReadZip(f *testing.F) {
	for _, file := range []string{"shape-zip.eml", "shape-zip-encrypted.eml"} {
		f.Add(seedBody(f, file))
	}
	f.Add([]byte("PK\x05\x06\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"))
	const maxEntry = 64 << 10
	f.Fuzz(func(t *testing.T, data []byte) {
		pdfs, err := readZip(data, maxEntry)
		if err != nil && pdfs != nil {
			t.Fatalf("readZip() = %d PDFs with error %v", len(pdfs), err)
		}
		if len(pdfs) > maxZipEntries {
			t.Fatalf("%d PDFs from one archive, over %d", len(pdfs), maxZipEntries)
		}
		var total int64
		for _, p := range pdfs {
			if len(p.data) > maxEntry {
				t.Fatalf("entry %q has %d bytes, over %d", p.name, len(p.data), maxEntry)
			}
			if !strings.HasSuffix(strings.ToLower(p.name), ".pdf") && !bytes.HasPrefix(p.data, pdfMagic) {
				t.Fatalf("entry %q is not a PDF by name or content", p.name)
			}
			total += int64(len(p.data))
		}
		if total > maxZipTotalBytes {
			t.Fatalf("%d bytes from one archive, over %d", total, maxZipTotalBytes)
		}
	})
}

func FuzzReadHeader(f *testing.F) {
	for _, s := range []string{
		"From: Jeanne T\xe9steur <jeanne.testeur@example.fr>\r\n\r\n",
		"From: =?windows-1252?Q?Jeanne_T=E9steur?= <jeanne.testeur@example.fr>\r\nSubject: R\xe9vocation\r\n\r\n",
		"From: Dupont, H\xc3\xa9l\xc3\xa8ne <h@example.fr>\r\nAuthentication-Results: mx.ca.example; dkim=pass\r\n\r\n",
		"From: \xff a@b\r\nMessage-ID: x\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		h, err := ReadHeader(raw)
		if err != nil {
			return
		}
		if (h.FromDecoding == FromStandard) != (h.FromRaw == nil) {
			t.Fatalf("FromDecoding %q with FromRaw %q", h.FromDecoding, h.FromRaw)
		}
		if h.From != nil && !strings.Contains(h.From.Address, "@") {
			t.Fatalf("From address %q", h.From.Address)
		}
		if h.FromDecoding != FromStandard && h.From == nil {
			t.Fatalf("lenient decoding %q without an address", h.FromDecoding)
		}
	})
}
