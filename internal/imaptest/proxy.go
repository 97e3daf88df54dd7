// Package imaptest holds what the IMAP tests of package ingest drive: a TCP
// proxy that counts, rewrites and cuts the server's bytes, and a Dovecot
// server run from a temporary directory.
package imaptest

import (
	"bufio"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// Proxy forwards TCP connections from Addr to a target server. It counts the
// bytes the server sends, can rewrite the server's lines, and can cut a
// connection after a given number of the server's bytes.
type Proxy struct {
	// Addr is the proxy's 127.0.0.1 address.
	Addr string

	target      string
	ln          net.Listener
	serverBytes atomic.Int64
	accepted    atomic.Int64
	cutAfter    atomic.Int64 // > 0: cut the next connection after this many bytes
	cut         chan struct{}
	cutOnce     sync.Once
	rewrite     func(line []byte) []byte

	mu    sync.Mutex
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

// NewProxy starts a proxy to target, closed at the end of the test. rewrite,
// when not nil, is applied to every line (LF included) the server sends.
func NewProxy(t testing.TB, target string, rewrite func(line []byte) []byte) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy listen: %v", err)
	}
	p := &Proxy{
		Addr:    ln.Addr().String(),
		target:  target,
		ln:      ln,
		cut:     make(chan struct{}),
		rewrite: rewrite,
		conns:   make(map[net.Conn]bool),
	}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(p.close)
	return p
}

// CutNextAfter makes the proxy close the next connection it accepts once it
// has forwarded n bytes from the server.
func (p *Proxy) CutNextAfter(n int64) { p.cutAfter.Store(n) }

// Cut is closed when a connection has been cut by CutNextAfter.
func (p *Proxy) Cut() <-chan struct{} { return p.cut }

// ServerBytes returns how many bytes the server has sent, over all
// connections.
func (p *Proxy) ServerBytes() int64 { return p.serverBytes.Load() }

// Accepted returns how many connections the proxy has accepted.
func (p *Proxy) Accepted() int64 { return p.accepted.Load() }

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.accepted.Add(1)
		limit := p.cutAfter.Swap(0)
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			client.Close()
			continue
		}
		if !p.track(client, server) {
			return
		}
		p.wg.Add(2)
		go func() {
			defer p.wg.Done()
			io.Copy(server, client)
			server.Close()
			client.Close()
		}()
		go func() {
			defer p.wg.Done()
			p.forward(client, server, limit)
			server.Close()
			client.Close()
		}()
	}
}

// track registers a pair of connections, unless the proxy is closing.
func (p *Proxy) track(conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil {
		for _, c := range conns {
			c.Close()
		}
		return false
	}
	for _, c := range conns {
		p.conns[c] = true
	}
	return true
}

// forward copies the server's bytes to the client, line by line so rewrite
// sees whole lines, stopping after limit bytes when limit > 0.
func (p *Proxy) forward(client, server net.Conn, limit int64) {
	br := bufio.NewReaderSize(server, 64<<10)
	var sent int64
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			err = nil // a long literal line: forward it in pieces
		}
		if len(line) > 0 {
			p.serverBytes.Add(int64(len(line)))
			out := line
			if p.rewrite != nil && line[len(line)-1] == '\n' {
				out = p.rewrite(line)
			}
			if limit > 0 && sent+int64(len(out)) >= limit {
				client.Write(out[:limit-sent])
				p.cutOnce.Do(func() { close(p.cut) })
				return
			}
			if _, werr := client.Write(out); werr != nil {
				return
			}
			sent += int64(len(out))
		}
		if err != nil {
			return
		}
	}
}

func (p *Proxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}
