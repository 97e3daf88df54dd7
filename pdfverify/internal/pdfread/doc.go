// Package pdfread is a small, lazy, bounded reader of PDF objects, written
// for verifying signed PDF forms.
//
// Open reads only the cross-reference data of a file held in memory; objects
// are parsed from their recorded offsets when they are asked for. The reader
// treats its input as hostile: every loop and allocation is bounded by
// Limits, it never panics, and it never repairs. A file that a lenient reader
// would fix up silently (a startxref or xref entry pointing at the wrong byte,
// a stream whose /Length is wrong, a /Prev loop, a dictionary with a
// duplicate key, data after the last %%EOF) is rejected with a *FormatError,
// because two readers that repair the same file differently can show
// different documents, and a signature verifier must see exactly what was
// signed.
//
// To read the document as it was at an earlier revision, pass a prefix of
// the file: Open(data[:n]) uses the cross-reference chain whose %%EOF ends at
// n, so nothing appended after n can influence what is read.
//
// Supported: classic cross-reference tables, cross-reference streams (with
// PNG predictors), hybrid files (/XRefStm), object streams and incremental
// updates. Not supported: encryption (strings and streams are returned as
// stored; check Encrypted), filters other than FlateDecode, external stream
// files (/F), and repair of damaged files.
package pdfread
