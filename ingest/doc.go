// Package ingest turns the mail sent to the revocation desk into the PDF
// forms to verify.
//
// ParseMessage reads one raw RFC 5322 message (an .eml file, or a message
// fetched from the mailbox) and returns its header fields and every PDF
// part, including those inside forwarded (message/rfc822) messages:
//
//	msg, err := ingest.ParseMessage(f, ingest.Limits{})
//	if err != nil {
//		// Reject the mail; msg, when not nil, still names its sender.
//	}
//	for _, a := range msg.Attachments {
//		if a.Err != nil {
//			// Incomplete or undecodable: reject this part, do not verify it.
//			continue
//		}
//		// a.Data is the PDF to verify.
//	}
//
// # Security
//
// Every message is hostile until its PDF's signature says otherwise.
// ParseMessage bounds the message size, the nesting depth, the number of
// parts, the size of each PDF and of each header (see Limits), so a message
// costs a bounded amount of time and a small multiple of its size in
// memory. It never panics on malformed input.
//
// Nothing here authenticates anything: From and Reply-To are whatever the
// sender wrote, and FileName is chosen by the sender (never use it as a
// path). An Attachment with Err set holds bytes that were not decoded
// completely, which may still start with "%PDF-" and look like a form.
//
// ParseMessage does not look inside opaque S/MIME (application/pkcs7-mime),
// TNEF (winmail.dat) or archive parts, and RFC 2231 file names in charsets
// other than UTF-8 and US-ASCII come out empty; such a PDF is found only if
// its part is typed or starts like one.
package ingest
