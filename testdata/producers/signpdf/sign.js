// Signs a PDF with @signpdf/signpdf, the placeholder added by pdf-lib, for
// revokd's tests:
//
//   node sign.js IN.pdf OUT.pdf KEYSTORE.p12 PASSWORD [FIELD=VALUE...]
//
// FIELD=VALUE pairs are filled in with pdf-lib first, which draws their
// appearances anew. @signpdf/placeholder-pdf-lib always names its field
// "Signature1": an empty field of that name is removed first, or the form
// would hold two fields of one name.
'use strict';
const fs = require('fs');
const { PDFDocument } = require('pdf-lib');
const { pdflibAddPlaceholder } = require('@signpdf/placeholder-pdf-lib');
const { SignPdf } = require('@signpdf/signpdf');
const { P12Signer } = require('@signpdf/signer-p12');

async function main() {
  const [input, output, p12, passphrase, ...fills] = process.argv.slice(2);
  const doc = await PDFDocument.load(fs.readFileSync(input));
  const form = doc.getForm();
  for (const fill of fills) {
    const i = fill.indexOf('=');
    form.getTextField(fill.slice(0, i)).setText(fill.slice(i + 1));
  }
  const empty = form.getFields().find((f) => f.getName() === 'Signature1');
  if (empty) {
    form.removeField(empty);
  }
  pdflibAddPlaceholder({
    pdfDoc: doc,
    reason: 'Demande de revocation',
    contactInfo: 'helene.dupont@example.fr',
    name: 'Helene Dupont',
    location: 'Paris',
    signatureLength: 16384,
  });
  const withPlaceholder = Buffer.from(await doc.save({ useObjectStreams: false }));
  const signer = new P12Signer(fs.readFileSync(p12), { passphrase });
  const signed = await new SignPdf().sign(withPlaceholder, signer);
  fs.writeFileSync(output, signed);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
