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
// ParseMessage opens opaque S/MIME (application/pkcs7-mime signed-data,
// and enveloped-data with ParseMessageWith and a Decrypter) and .zip
// archives, and lists in Message.Unopened what it could not open
// (encrypted mail without the key, Outlook's winmail.dat, damaged or
// oversized archives), so that the sender can be told what to do. The
// S/MIME signer it records (Message.SMIME) is evidence only: the
// certificate is not chained to any trust anchor. RFC 2231 file names in
// charsets other than UTF-8 and US-ASCII come out empty.
//
// ReadHeader reads a header section alone (a mail over the size cap) and
// takes the sender's address even from a From field in raw 8-bit bytes;
// VerifyDKIM verifies DKIM signatures, again as evidence only.
package ingest
