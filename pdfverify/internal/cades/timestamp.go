package cades

import (
	"crypto"
	"crypto/subtle"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"slices"
	"time"
)

// Timestamp is an RFC 3161 time-stamp token as checked by
// VerifyTimestampToken.
type Timestamp struct {
	// GenTime is the time the TSA asserts. It means something only when
	// Err is nil.
	GenTime time.Time
	// Signer is the TSA certificate whose key verified the token, nil
	// unless Err is nil.
	Signer *x509.Certificate
	// Certificates are the certificates embedded in the token, for
	// building the TSA's chain.
	Certificates []*x509.Certificate
	// Digest is the hash of the token's SignerInfo and ImprintHash the
	// hash of its messageImprint, for the caller's algorithm rules; set
	// when Err is nil.
	Digest, ImprintHash crypto.Hash
	// Err is nil when the token is well formed, its signature verifies
	// with an embedded certificate bound by ESS signing-certificate(-v2),
	// its messageImprint is the hash of the time-stamped data, and that
	// certificate has the id-kp-timeStamping extended key usage. The chain
	// to trust anchors is NOT checked here: the caller does it. Otherwise
	// Err is an *Error.
	Err error
}

// tstInfo is RFC 3161 TSTInfo.
type tstInfo struct {
	Version        int
	Policy         asn1.ObjectIdentifier
	MessageImprint messageImprint
	SerialNumber   *big.Int
	GenTime        time.Time     `asn1:"generalized"`
	Accuracy       accuracy      `asn1:"optional"`
	Ordering       bool          `asn1:"optional,default:false"`
	Nonce          *big.Int      `asn1:"optional"`
	TSA            asn1.RawValue `asn1:"optional,explicit,tag:0"`
	Extensions     asn1.RawValue `asn1:"optional,tag:1"`
}

type messageImprint struct {
	HashAlgorithm pkix.AlgorithmIdentifier
	HashedMessage []byte
}

type accuracy struct {
	Seconds int `asn1:"optional"`
	Millis  int `asn1:"optional,tag:0"`
	Micros  int `asn1:"optional,tag:1"`
}

// VerifyTimestampToken checks an RFC 3161 TimeStampToken (a ContentInfo
// holding SignedData over a TSTInfo) that should time-stamp imprintedData:
// the SignerInfo's signature value for a signature timestamp, the
// ByteRange bytes for a document timestamp (ETSI.RFC3161), hashed once.
//
// It returns a non-nil *Timestamp in every case, with Err set to the
// returned error, which is an *Error.
func VerifyTimestampToken(token []byte, imprintedData []byte) (*Timestamp, error) {
	ts := &Timestamp{}
	if err := verifyToken(ts, token, imprintedData); err != nil {
		ts.Err = err
		ts.Signer = nil
		return ts, err
	}
	return ts, nil
}

func verifyToken(ts *Timestamp, token, imprinted []byte) *Error {
	p, err := parseSignedData(token)
	if err != nil {
		return err
	}
	ts.Certificates = p.certs
	if !p.eContentType.Equal(oidTSTInfo) {
		return errorf(Malformed, "timestamp token content type %s is not TSTInfo", p.eContentType)
	}
	if !p.hasEContent {
		return errorf(Malformed, "timestamp token has no TSTInfo")
	}
	if len(p.signers) != 1 {
		return errorf(SignerCount, "timestamp token has %d SignerInfos, want exactly 1", len(p.signers))
	}
	// RFC 3161 section 2.4.1 requires the ESS signing-certificate
	// attribute in every token, which binds the TSA certificate.
	v, verr := verifySignerInfo(&p.signers[0], p.certs, [][]byte{p.eContent}, oidTSTInfo, true)
	if verr != nil {
		return verr
	}
	var info tstInfo
	if err := unmarshalAll(p.eContent, &info); err != nil {
		return errorf(Malformed, "decoding TSTInfo: %w", err)
	}
	if info.Version != 1 {
		return errorf(Malformed, "TSTInfo version %d", info.Version)
	}
	ts.GenTime = info.GenTime
	h, herr := digestHash(info.MessageImprint.HashAlgorithm.Algorithm)
	if herr != nil {
		return herr
	}
	ts.Digest, ts.ImprintHash = v.hash, h
	if subtle.ConstantTimeCompare(info.MessageImprint.HashedMessage, digest(h, imprinted)) != 1 {
		return errorf(ImprintMismatch, "messageImprint is not the %v hash of the %d time-stamped bytes", h, len(imprinted))
	}
	if !slices.Contains(v.claimed.ExtKeyUsage, x509.ExtKeyUsageTimeStamping) {
		return errorf(NotTimestampingCert, "TSA certificate %q lacks the timeStamping extended key usage", v.claimed.Subject.String())
	}
	ts.Signer = v.claimed
	return nil
}

// signatureTimestamp checks the signature-time-stamp unsigned attributes
// of si. Several tokens may be present; the first that verifies is
// returned, else the first failure. Nil when there is none.
func signatureTimestamp(si *signerInfo) *Timestamp {
	if len(si.UnsignedAttrs.FullBytes) == 0 {
		return nil
	}
	attrs, err := parseAttributes(si.UnsignedAttrs.Bytes)
	if err != nil {
		return &Timestamp{Err: errorf(Malformed, "unsigned attributes: %w", err)}
	}
	tokens, err := attributeValues(attrs, oidAttrTimestampToken)
	if err != nil {
		return &Timestamp{Err: errorf(Malformed, "%w", err)}
	}
	var first *Timestamp
	for _, tok := range tokens {
		ts, err := VerifyTimestampToken(tok, si.Signature)
		if err == nil {
			return ts
		}
		if first == nil {
			first = ts
		}
	}
	return first
}
