package imaptest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// dovecotUsers is how many mail users the passwd file holds: one per test
// case, each with its own Maildir, so cases can run in parallel on one
// server.
const dovecotUsers = 64

// dovecotStartTimeout bounds the wait for the listeners; Dovecot starts in
// a few milliseconds on an idle machine.
const dovecotStartTimeout = 15 * time.Second

// Dovecot is a Dovecot 2.3 server running in the foreground from a
// directory of its own, listening on 127.0.0.1 only.
type Dovecot struct {
	// Addr accepts plaintext and STARTTLS; TLSAddr speaks implicit TLS.
	Addr, TLSAddr string
	// CACert is the certificate of the CA that issued the server's
	// certificate (for 127.0.0.1 and localhost).
	CACert *x509.Certificate
	// Password is every user's password.
	Password string

	dir, conf, bin string
	cmd            *exec.Cmd
	exited         chan struct{}
	nextUser       atomic.Int32
}

// DovecotPath returns the dovecot binary's path, or "" when it is not
// installed.
func DovecotPath() string {
	for _, p := range []string{"dovecot", "/usr/sbin/dovecot"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	return ""
}

// StartDovecot writes a configuration, a passwd file and a certificate
// under dir (which must be empty, short enough for Unix socket paths, and
// traversable by the mail user) and starts Dovecot.
//
// As root, mail is owned by "nobody" and Dovecot's own processes use the
// Debian users dovecot and dovenull; otherwise everything runs as the
// current user, without chroot.
func StartDovecot(dir string) (*Dovecot, error) {
	bin := DovecotPath()
	if bin == "" {
		return nil, errors.New("dovecot is not installed")
	}
	d := &Dovecot{dir: dir, bin: bin, Password: "secret-Pa55"}
	if err := d.writeFiles(); err != nil {
		return nil, err
	}
	if err := d.start(); err != nil {
		return nil, err
	}
	return d, nil
}

// Restart stops Dovecot and starts it again on the same ports with the
// same users and mail: a server that went away and came back.
func (d *Dovecot) Restart() error {
	if err := d.Stop(); err != nil {
		return err
	}
	return d.start()
}

func (d *Dovecot) start() error {
	d.exited = make(chan struct{})
	log, err := os.OpenFile(filepath.Join(d.dir, "dovecot.stderr"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	d.cmd = exec.Command(d.bin, "-F", "-c", d.conf)
	d.cmd.Stdout = log
	d.cmd.Stderr = log
	if err := d.cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("starting dovecot: %w", err)
	}
	exited := d.exited
	go func() {
		d.cmd.Wait()
		log.Close()
		close(exited)
	}()
	if err := d.waitListening(); err != nil {
		d.Stop()
		return fmt.Errorf("%w\n%s", err, d.Log())
	}
	return nil
}

// waitListening waits until both listeners accept connections. Dovecot
// says nothing on stdout when it is ready, so the ports are polled.
func (d *Dovecot) waitListening() error {
	deadline := time.After(dovecotStartTimeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for _, addr := range []string{d.Addr, d.TLSAddr} {
		for {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
				break
			}
			select {
			case <-d.exited:
				return fmt.Errorf("dovecot exited during start-up: %v", d.cmd.ProcessState)
			case <-deadline:
				return fmt.Errorf("dovecot not listening on %s after %v", addr, dovecotStartTimeout)
			case <-tick.C:
			}
		}
	}
	return nil
}

// Stop stops Dovecot, waits for its master process to exit (a new instance
// in the same directory fails until then) and removes nothing.
func (d *Dovecot) Stop() error {
	if d.cmd == nil || d.cmd.Process == nil {
		return nil
	}
	select {
	case <-d.exited:
		return nil
	default:
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
		return nil
	case <-time.After(30 * time.Second):
		d.cmd.Process.Kill()
		<-d.exited
		return errors.New("dovecot did not stop within 30 s of SIGTERM; killed")
	}
}

// NewUser returns a user name of its own, whose mailbox is empty.
func (d *Dovecot) NewUser() (string, error) {
	n := d.nextUser.Add(1)
	if n > dovecotUsers {
		return "", fmt.Errorf("more than %d dovecot users requested", dovecotUsers)
	}
	return fmt.Sprintf("user%d", n), nil
}

// Doveadm runs doveadm with this server's configuration.
func (d *Dovecot) Doveadm(args ...string) ([]byte, error) {
	cmd := exec.Command("doveadm", append([]string{"-c", d.conf}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("doveadm %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return out, nil
}

// Log returns Dovecot's log so far.
func (d *Dovecot) Log() string {
	var b bytes.Buffer
	for _, name := range []string{"dovecot.stderr", "dovecot.log"} {
		data, _ := os.ReadFile(filepath.Join(d.dir, name))
		b.Write(data)
	}
	return b.String()
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func (d *Dovecot) writeFiles() error {
	dir := d.dir
	port, err := freePort()
	if err != nil {
		return err
	}
	tlsPort, err := freePort()
	if err != nil {
		return err
	}
	d.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	d.TLSAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(tlsPort))

	certPEM, keyPEM, ca, err := serverCert()
	if err != nil {
		return err
	}
	d.CACert = ca
	for name, data := range map[string][]byte{"cert.pem": certPEM, "key.pem": keyPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return err
		}
	}

	// Mail processes run as the mail user, who must reach its home.
	uid, gid := os.Getuid(), os.Getgid()
	var serviceUsers string
	if uid == 0 {
		nobody, err := user.Lookup("nobody")
		if err != nil {
			return fmt.Errorf("looking up nobody: %w", err)
		}
		uid, _ = strconv.Atoi(nobody.Uid)
		gid, _ = strconv.Atoi(nobody.Gid)
		if err := os.Chmod(dir, 0o711); err != nil {
			return err
		}
	} else {
		me, err := user.Current()
		if err != nil {
			return err
		}
		group, err := user.LookupGroupId(me.Gid)
		if err != nil {
			return err
		}
		serviceUsers = fmt.Sprintf(`default_internal_user = %[1]s
default_internal_group = %[2]s
default_login_user = %[1]s
service imap-login {
  chroot =
}
service anvil {
  chroot =
}
`, me.Username, group.Name)
	}
	home := filepath.Join(dir, "home")
	if err := os.Mkdir(home, 0o755); err != nil {
		return err
	}
	if err := os.Chown(home, uid, gid); err != nil && os.Getuid() == 0 {
		return err
	}

	var passwd strings.Builder
	for i := 1; i <= dovecotUsers; i++ {
		fmt.Fprintf(&passwd, "user%d:{PLAIN}%s:%d:%d::%s::\n", i, d.Password, uid, gid, filepath.Join(home, fmt.Sprintf("user%d", i)))
	}
	passwdFile := filepath.Join(dir, "passwd")
	if err := os.WriteFile(passwdFile, []byte(passwd.String()), 0o644); err != nil {
		return err
	}

	conf := fmt.Sprintf(`# Written by the ingest tests.
base_dir = %[1]s/run
state_dir = %[1]s/state
log_path = %[1]s/dovecot.log
instance_name = revokd-test-%[2]d
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <%[1]s/cert.pem
ssl_key = <%[1]s/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = %[5]d
first_valid_gid = %[6]d
mail_location = maildir:~/Maildir
mail_fsync = never
passdb {
  driver = passwd-file
  args = scheme=PLAIN %[7]s
}
userdb {
  driver = passwd-file
  args = %[7]s
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = %[3]d
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = %[4]d
    ssl = yes
  }
}
service stats {
  inet_listener http {
    port = 0
  }
}
namespace inbox {
  inbox = yes
  separator = /
}
%[8]s`, dir, os.Getpid(), port, tlsPort, min(uid, 500), min(gid, 500), passwdFile, serviceUsers)
	d.conf = filepath.Join(dir, "dovecot.conf")
	return os.WriteFile(d.conf, []byte(conf), 0o644)
}

// serverCert returns a certificate for 127.0.0.1 and localhost, its key,
// and the throwaway CA that issued it.
func serverCert() (certPEM, keyPEM []byte, ca *x509.Certificate, err error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "imaptest CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, nil, nil, err
	}
	ca, err = x509.ParseCertificate(caDER)
	if err != nil {
		return nil, nil, nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, nil, err
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	return certPEM, keyPEM, ca, nil
}
