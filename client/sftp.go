package client

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/pkg/sftp"
)

// SFTPConn opens the instance's SFTP endpoint (an HTTP upgrade, as Incus
// does) and returns the raw stream, for an SFTP client or sshfs.
func (c *Client) SFTPConn(ctx context.Context, name string) (io.ReadWriteCloser, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.socket)
	if err != nil {
		return nil, fmt.Errorf("cannot reach lodged at %s: %w", c.socket, err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.base+instPath(name)+"/sftp", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "sftp")
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	if err := req.Write(conn); err != nil {
		conn.Close()
		return nil, err
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		conn.Close()
		return nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer conn.Close()
		_, _, perr := c.parse(resp, nil)
		if perr == nil {
			perr = fmt.Errorf("sftp upgrade refused: %s", resp.Status)
		}
		return nil, perr
	}
	_ = conn.SetDeadline(time.Time{})
	return &bufferedConn{Reader: br, Conn: conn}, nil
}

type bufferedConn struct {
	io.Reader
	net.Conn
}

func (b *bufferedConn) Read(p []byte) (int, error) { return b.Reader.Read(p) }

// SFTP returns an SFTP client rooted at the instance's filesystem.
func (c *Client) SFTP(ctx context.Context, name string) (*sftp.Client, error) {
	conn, err := c.SFTPConn(ctx, name)
	if err != nil {
		return nil, err
	}
	cl, err := sftp.NewClientPipe(conn, conn, sftp.UseConcurrentWrites(true), sftp.MaxConcurrentRequestsPerFile(64))
	if err != nil {
		conn.Close()
		return nil, err
	}
	return cl, nil
}

// File returns a copy of the connection's descriptor, for handing the
// stream to another process (sshfs) without copying it through this one.
func (b *bufferedConn) File() (*os.File, error) {
	uc, ok := b.Conn.(*net.UnixConn)
	if !ok {
		return nil, fmt.Errorf("sftp stream is not a unix socket")
	}
	if br, ok := b.Reader.(*bufio.Reader); ok && br.Buffered() > 0 {
		return nil, fmt.Errorf("sftp stream has buffered data")
	}
	return uc.File()
}
