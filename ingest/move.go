package ingest

import (
	"errors"
	"fmt"

	"github.com/emersion/go-imap/v2"
)

// responseCodeExpungeIssued (RFC 5530) answers a command naming a message
// that another session expunged; go-imap has no name for it.
const responseCodeExpungeIssued imap.ResponseCode = "EXPUNGEISSUED"

// move moves messages out of the mailbox to folder.
func (s *session) move(uids []imap.UID, folder string) error {
	set := imap.UIDSetNum(uids...)
	err := s.moveOnce(set, folder)
	var ierr *imap.Error
	if errors.As(err, &ierr) && ierr.Code == responseCodeExpungeIssued {
		// Another client expunged one of the messages after this session
		// downloaded it, and Dovecot refuses the whole command for it. A
		// NOOP brings the expunge in; the UIDs left are then moved.
		if err := s.c.Noop().Wait(); err != nil {
			return fmt.Errorf("NOOP: %w", err)
		}
		err = s.moveOnce(set, folder)
	}
	if errors.As(err, &ierr) && ierr.Code == imap.ResponseCodeTryCreate {
		// Someone deleted the folder since the session began.
		if err := s.ensureFolder(folder); err != nil {
			return err
		}
		err = s.moveOnce(set, folder)
	}
	if err != nil {
		return err
	}
	if !s.caps.Has(imap.CapMove) && !s.caps.Has(imap.CapUIDPlus) {
		for _, uid := range uids {
			s.copied[uid] = true
		}
		return s.expungeCopied()
	}
	return nil
}

func (s *session) moveOnce(set imap.UIDSet, folder string) error {
	if s.caps.Has(imap.CapMove) {
		_, err := s.c.Move(set, folder).Wait()
		return err
	}
	if _, err := s.c.Copy(set, folder).Wait(); err != nil {
		return fmt.Errorf("COPY: %w", err)
	}
	err := s.c.Store(set, &imap.StoreFlags{
		Op:     imap.StoreFlagsAdd,
		Silent: true,
		Flags:  []imap.Flag{imap.FlagDeleted},
	}, nil).Close()
	if err != nil {
		return fmt.Errorf("STORE +FLAGS \\Deleted: %w", err)
	}
	if s.caps.Has(imap.CapUIDPlus) {
		if err := s.c.UIDExpunge(set).Close(); err != nil {
			return fmt.Errorf("UID EXPUNGE: %w", err)
		}
	}
	return nil
}

// expungeCopied runs a plain EXPUNGE, but only when every message flagged
// \Deleted is one this session copied out: EXPUNGE would otherwise destroy
// messages that another client flagged and nobody has handled.
func (s *session) expungeCopied() error {
	data, err := s.c.UIDSearch(&imap.SearchCriteria{Flag: []imap.Flag{imap.FlagDeleted}}, nil).Wait()
	if err != nil {
		return fmt.Errorf("listing deleted messages: %w", err)
	}
	for _, uid := range data.AllUIDs() {
		if !s.copied[uid] {
			s.m.log.Warn("not expunging: a message this session did not copy out is flagged \\Deleted",
				"uid", uid, "pending", len(s.copied))
			return nil
		}
	}
	if err := s.c.Expunge().Close(); err != nil {
		return fmt.Errorf("EXPUNGE: %w", err)
	}
	clear(s.copied)
	return nil
}
