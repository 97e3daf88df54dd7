// RevokdPdfbox signs a PDF and adds validation data to it with Apache
// PDFBox 2, as its CreateSignature and AddValidationInformation examples
// do, so that revokd's tests can verify what PDFBox writes.
//
//   java RevokdPdfbox sign IN.pdf OUT.pdf KEYSTORE.p12 PASSWORD
//   java RevokdPdfbox ltv  IN.pdf OUT.pdf CERT.der... [--crl CRL.der...]
import java.io.ByteArrayInputStream;
import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.security.KeyStore;
import java.security.MessageDigest;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Calendar;
import java.util.List;

import org.apache.pdfbox.cos.COSArray;
import org.apache.pdfbox.cos.COSBase;
import org.apache.pdfbox.cos.COSDictionary;
import org.apache.pdfbox.cos.COSName;
import org.apache.pdfbox.cos.COSStream;
import org.apache.pdfbox.cos.COSString;
import org.apache.pdfbox.pdmodel.PDDocument;
import org.apache.pdfbox.pdmodel.PDDocumentCatalog;
import org.apache.pdfbox.pdmodel.interactive.digitalsignature.PDSignature;
import org.apache.pdfbox.pdmodel.interactive.digitalsignature.SignatureInterface;
import org.bouncycastle.cert.jcajce.JcaCertStore;
import org.bouncycastle.cms.CMSProcessableByteArray;
import org.bouncycastle.cms.CMSSignedData;
import org.bouncycastle.cms.CMSSignedDataGenerator;
import org.bouncycastle.cms.jcajce.JcaSignerInfoGeneratorBuilder;
import org.bouncycastle.operator.ContentSigner;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.operator.jcajce.JcaDigestCalculatorProviderBuilder;

public class RevokdPdfbox {
    public static void main(String[] args) throws Exception {
        if (args.length < 3) {
            System.err.println("usage: RevokdPdfbox sign|ltv IN OUT ...");
            System.exit(2);
        }
        File in = new File(args[1]);
        File out = new File(args[2]);
        if (args[0].equals("sign")) {
            sign(in, out, args[3], args[4].toCharArray());
        } else {
            ltv(in, out, Arrays.copyOfRange(args, 3, args.length));
        }
    }

    static void sign(File in, File out, String keystore, char[] password) throws Exception {
        KeyStore ks = KeyStore.getInstance("PKCS12");
        try (InputStream is = Files.newInputStream(new File(keystore).toPath())) {
            ks.load(is, password);
        }
        String alias = ks.aliases().nextElement();
        PrivateKey key = (PrivateKey) ks.getKey(alias, password);
        Certificate[] chain = ks.getCertificateChain(alias);
        String alg = key.getAlgorithm().equals("EC") ? "SHA256withECDSA" : "SHA256withRSA";
        SignatureInterface signer = content -> {
            try {
                CMSSignedDataGenerator gen = new CMSSignedDataGenerator();
                ContentSigner cs = new JcaContentSignerBuilder(alg).build(key);
                gen.addSignerInfoGenerator(new JcaSignerInfoGeneratorBuilder(
                        new JcaDigestCalculatorProviderBuilder().build()).build(cs, (X509Certificate) chain[0]));
                gen.addCertificates(new JcaCertStore(Arrays.asList(chain)));
                CMSSignedData signed = gen.generate(new CMSProcessableByteArray(content.readAllBytes()), false);
                return signed.getEncoded();
            } catch (Exception e) {
                throw new IOException(e);
            }
        };
        try (PDDocument doc = PDDocument.load(in); OutputStream os = new FileOutputStream(out)) {
            PDSignature sig = new PDSignature();
            sig.setFilter(PDSignature.FILTER_ADOBE_PPKLITE);
            sig.setSubFilter(PDSignature.SUBFILTER_ADBE_PKCS7_DETACHED);
            sig.setName("PDFBox test signer");
            sig.setReason("Demande de révocation");
            sig.setSignDate(Calendar.getInstance());
            doc.addSignature(sig, signer);
            doc.saveIncremental(os);
        }
    }

    // ltv adds a DSS with the given certificates and CRLs, a VRI entry for
    // the last signature, and the ESIC extension, as AddValidationInformation.
    static void ltv(File in, File out, String[] files) throws Exception {
        try (PDDocument doc = PDDocument.load(in); OutputStream os = new FileOutputStream(out)) {
            PDDocumentCatalog catalog = doc.getDocumentCatalog();
            COSDictionary dss = new COSDictionary();
            dss.setNeedToBeUpdated(true);
            COSArray certs = new COSArray();
            COSArray crls = new COSArray();
            certs.setNeedToBeUpdated(true);
            crls.setNeedToBeUpdated(true);
            boolean crl = false;
            for (String f : files) {
                if (f.equals("--crl")) {
                    crl = true;
                    continue;
                }
                COSStream s = doc.getDocument().createCOSStream();
                try (OutputStream w = s.createOutputStream(COSName.FLATE_DECODE)) {
                    w.write(Files.readAllBytes(new File(f).toPath()));
                }
                s.setNeedToBeUpdated(true);
                (crl ? crls : certs).add(s);
            }
            dss.setItem(COSName.getPDFName("Certs"), certs);
            dss.setItem(COSName.getPDFName("CRLs"), crls);
            List<PDSignature> sigs = doc.getSignatureDictionaries();
            PDSignature last = sigs.get(sigs.size() - 1);
            byte[] contents = last.getContents(new ByteArrayInputStream(Files.readAllBytes(in.toPath())));
            byte[] sha1 = MessageDigest.getInstance("SHA-1").digest(contents);
            StringBuilder hex = new StringBuilder();
            for (byte b : sha1) {
                hex.append(String.format("%02X", b));
            }
            COSDictionary vri = new COSDictionary();
            vri.setNeedToBeUpdated(true);
            COSDictionary entry = new COSDictionary();
            entry.setNeedToBeUpdated(true);
            entry.setItem(COSName.getPDFName("Cert"), certs);
            entry.setItem(COSName.getPDFName("CRL"), crls);
            vri.setItem(COSName.getPDFName(hex.toString()), entry);
            dss.setItem(COSName.getPDFName("VRI"), vri);
            catalog.getCOSObject().setItem(COSName.getPDFName("DSS"), dss);

            COSDictionary esic = new COSDictionary();
            esic.setDirect(true);
            esic.setName(COSName.getPDFName("BaseVersion"), "1.7");
            esic.setInt(COSName.getPDFName("ExtensionLevel"), 5);
            COSDictionary ext = new COSDictionary();
            ext.setDirect(true);
            ext.setItem(COSName.getPDFName("ESIC"), esic);
            catalog.getCOSObject().setItem(COSName.getPDFName("Extensions"), ext);
            catalog.getCOSObject().setNeedToBeUpdated(true);
            doc.saveIncremental(os);
        }
    }
}
