package testpki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"sync"
)

// KeyType is the kind of key a certificate holder (or a CA) gets.
type KeyType int

const (
	// RSA2048 is a 2048-bit RSA key that signs with PKCS #1 v1.5.
	RSA2048 KeyType = iota
	// RSA3072 is a 3072-bit RSA key that signs with PKCS #1 v1.5.
	RSA3072
	// ECDSAP256 is an ECDSA key on NIST P-256.
	ECDSAP256
	// RSAPSS is a 2048-bit RSA key whose holder signs with RSASSA-PSS.
	// The certificate carries an ordinary rsaEncryption public key (as
	// issued by real CAs, and because crypto/x509 cannot parse
	// id-RSASSA-PSS keys); the CA signs the certificate with PKCS #1 v1.5.
	// Use Cert.SignerOpts to sign with PSS.
	RSAPSS
	// RSA1024 is a 1024-bit RSA key, below every current algorithm rule:
	// for forgeries. Always freshly generated.
	RSA1024
	// ECDSAP224 is an ECDSA key on NIST P-224, a curve below every
	// current algorithm rule: for forgeries.
	ECDSAP224
	// ECDSAP384 is an ECDSA key on NIST P-384.
	ECDSAP384

	numKeyTypes = iota
)

var keyTypeNames = [numKeyTypes]string{"RSA2048", "RSA3072", "ECDSAP256", "RSAPSS", "RSA1024", "ECDSAP224", "ECDSAP384"}

// String returns the constant's name, e.g. "RSA2048".
func (k KeyType) String() string {
	if k < 0 || int(k) >= numKeyTypes {
		return fmt.Sprintf("KeyType(%d)", int(k))
	}
	return keyTypeNames[k]
}

// Pool sizes: RSA generation takes 10–100 ms for 2048 bits and 100–500 ms
// for 3072 bits on the 2-core test machines, so keys are generated lazily
// into a process-wide ring and reused once the ring wraps. A ring large
// enough that the handful of PKIs and holders one test creates get
// distinct keys, small enough that a package's whole test run generates
// each slot at most once.
const (
	// rsa2048PoolSize also serves RSAPSS and the CAs' keys (three per PKI).
	rsa2048PoolSize = 64
	// rsa3072PoolSize is small because each key costs up to half a second.
	rsa3072PoolSize = 8
)

// keyPool hands out keys round-robin from lazily filled rings. Two draws
// return the same key only when a whole ring's worth of draws of that
// size happened in between. ECDSA keys cost microseconds and are never
// pooled, so they are always fresh.
type keyPool struct {
	mu      sync.Mutex
	rsa2048 [rsa2048PoolSize]*rsa.PrivateKey
	rsa3072 [rsa3072PoolSize]*rsa.PrivateKey
	next    [2]int // next slot in rsa2048 and rsa3072
}

var pool keyPool

// drawKey returns a key of type kt, from the pool for RSA keys.
func drawKey(kt KeyType) (crypto.Signer, error) {
	switch kt {
	case ECDSAP256:
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generating ECDSA P-256 key: %w", err)
		}
		return k, nil
	case ECDSAP224, ECDSAP384:
		curve := elliptic.P224()
		if kt == ECDSAP384 {
			curve = elliptic.P384()
		}
		k, err := ecdsa.GenerateKey(curve, rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generating ECDSA %s key: %w", curve.Params().Name, err)
		}
		return k, nil
	case RSA1024:
		k, err := rsa.GenerateKey(rand.Reader, 1024)
		if err != nil {
			return nil, fmt.Errorf("generating RSA-1024 key: %w", err)
		}
		return k, nil
	case RSA2048, RSAPSS:
		return pool.draw(0, pool.rsa2048[:], 2048)
	case RSA3072:
		return pool.draw(1, pool.rsa3072[:], 3072)
	default:
		return nil, fmt.Errorf("unknown key type %v", kt)
	}
}

// draw takes the next slot of ring and fills it when empty. Generation
// runs outside the lock so that parallel tests generate in parallel.
func (p *keyPool) draw(ring int, slots []*rsa.PrivateKey, bits int) (*rsa.PrivateKey, error) {
	p.mu.Lock()
	i := p.next[ring] % len(slots)
	p.next[ring]++
	k := slots[i]
	p.mu.Unlock()
	if k != nil {
		return k, nil
	}
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return nil, fmt.Errorf("generating RSA-%d key: %w", bits, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if slots[i] == nil {
		slots[i] = k
	}
	return slots[i], nil
}
