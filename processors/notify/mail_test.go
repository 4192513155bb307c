package notify

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
)

// MailMsg is one message the fake SMTP server received, as a mail client
// reads it (exported for the package's external tests).
type MailMsg struct {
	From    string
	To      []string
	TLS     bool
	User    string
	Subject string
	Header  mail.Header
	Text    string
	HTML    string
}

// ParseMail checks a message the way a mail client reads it:
// multipart/alternative with a text/plain and a text/html part.
func ParseMail(raw []byte) (*MailMsg, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	out := &MailMsg{Header: msg.Header}
	dec := new(mime.WordDecoder)
	if out.Subject, err = dec.DecodeHeader(msg.Header.Get("Subject")); err != nil {
		return nil, err
	}
	if msg.Header.Get("MIME-Version") != "1.0" || msg.Header.Get("Date") == "" || msg.Header.Get("Message-ID") == "" {
		return nil, errors.New("missing MIME-Version, Date or Message-ID")
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		return nil, fmt.Errorf("content type %q", msg.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart() // decodes quoted-printable
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(p)
		if err != nil {
			return nil, err
		}
		ct, cp, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		if cp["charset"] != "utf-8" {
			return nil, fmt.Errorf("part %s charset %q", ct, cp["charset"])
		}
		switch ct {
		case "text/plain":
			out.Text = string(b)
		case "text/html":
			out.HTML = string(b)
		}
	}
	if out.Text == "" || out.HTML == "" {
		return nil, errors.New("want a text/plain and a text/html part")
	}
	return out, nil
}
