package ingest

import (
	"context"
	"fmt"

	"github.com/emersion/go-imap/v2"
)

// ProbeResult is what Probe saw of the server.
type ProbeResult struct {
	Messages uint32 // in the mailbox
	IDLE     bool   // the server offers IDLE (otherwise revokd polls)
}

// Probe connects, authenticates, examines the mailbox read-only and logs
// out: whether Run could work, without touching any message. An
// authentication refusal is an *AuthError.
func (m *Mailbox) Probe(ctx context.Context) (ProbeResult, error) {
	var res ProbeResult
	c, _, err := m.connect(ctx)
	if err != nil {
		return res, err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	data, err := c.Select(m.cfg.Mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return res, fmt.Errorf("examining %q: %w", m.cfg.Mailbox, err)
	}
	res.Messages = data.NumMessages
	res.IDLE = c.Caps().Has(imap.CapIdle)
	_ = c.Logout().Wait()
	return res, nil
}
