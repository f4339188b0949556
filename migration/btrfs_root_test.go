package migration

import (
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// sendStreamWriter builds btrfs send streams (version 1) command by command:
// a hostile source's, which no real btrfs send would write.
type sendStreamWriter struct{ buf bytes.Buffer }

// Commands and attributes of btrfs send stream version 1 (send.h).
const (
	sendCmdSubvol  = 1
	sendCmdMkfile  = 3
	sendCmdSymlink = 8
	sendCmdWrite   = 15
	sendCmdEnd     = 21

	sendAttrUUID     = 1
	sendAttrCtransid = 2
	sendAttrIno      = 3
	sendAttrPath     = 15
	sendAttrPathLink = 17
	sendAttrOffset   = 18
	sendAttrData     = 19
)

func newSendStream() *sendStreamWriter {
	w := &sendStreamWriter{}
	w.buf.WriteString("btrfs-stream\x00")
	binary.Write(&w.buf, binary.LittleEndian, uint32(1))
	return w
}

type sendAttr struct {
	typ  uint16
	data []byte
}

func u64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

// cmd appends one command; its crc32c (seed 0, no final xor) covers the
// header, with the crc field zero, and the attributes.
func (w *sendStreamWriter) cmd(c uint16, attrs ...sendAttr) {
	var payload bytes.Buffer
	for _, a := range attrs {
		binary.Write(&payload, binary.LittleEndian, a.typ)
		binary.Write(&payload, binary.LittleEndian, uint16(len(a.data)))
		payload.Write(a.data)
	}
	hdr := make([]byte, 10)
	binary.LittleEndian.PutUint32(hdr[0:], uint32(payload.Len()))
	binary.LittleEndian.PutUint16(hdr[4:], c)
	crc := ^crc32.Update(0xffffffff, crc32.MakeTable(crc32.Castagnoli), append(hdr, payload.Bytes()...))
	binary.LittleEndian.PutUint32(hdr[6:], crc)
	w.buf.Write(hdr)
	w.buf.Write(payload.Bytes())
}

// mountBtrfs mounts a fresh btrfs filesystem on a loop file.
func mountBtrfs(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("mkfs.btrfs"); err != nil {
		t.Skip("no mkfs.btrfs")
	}
	dir := t.TempDir()
	img, mnt := filepath.Join(dir, "img"), filepath.Join(dir, "mnt")
	os.Mkdir(mnt, 0o755)
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 256<<20); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mkfs.btrfs", "-q", img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.btrfs: %v %s", err, out)
	}
	if out, err := exec.Command("mount", "-o", "loop", img, mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })
	return mnt
}

// TestReceiveStreamHostile: a stream that makes a symlink to a host
// directory and then writes through it writes nothing there (btrfs
// receive runs chrooted into the receive directory), and one that claims
// more bytes than the limit is cut off with a clear error.
func TestReceiveStreamHostile(t *testing.T) {
	needRoot(t)
	mnt := mountBtrfs(t)
	outside := t.TempDir()
	uuid := bytes.Repeat([]byte{7}, 16)

	s := newSendStream()
	s.cmd(sendCmdSubvol, sendAttr{sendAttrPath, []byte("evil")}, sendAttr{sendAttrUUID, uuid}, sendAttr{sendAttrCtransid, u64(1)})
	s.cmd(sendCmdSymlink, sendAttr{sendAttrPath, []byte("esc")}, sendAttr{sendAttrIno, u64(257)}, sendAttr{sendAttrPathLink, []byte(outside)})
	s.cmd(sendCmdMkfile, sendAttr{sendAttrPath, []byte("esc/pwned")}, sendAttr{sendAttrIno, u64(258)})
	s.cmd(sendCmdWrite, sendAttr{sendAttrPath, []byte("esc/pwned")}, sendAttr{sendAttrOffset, u64(0)}, sendAttr{sendAttrData, []byte("owned\n")})
	s.cmd(sendCmdEnd)

	run := func(stream []byte, o RecvOptions) error {
		in := filepath.Join(mnt, "in")
		os.RemoveAll(in)
		os.Mkdir(in, 0o700)
		a, b := wsPair(t)
		snd, rcv := newFSStream(a), newFSStream(b)
		go func() {
			for len(stream) > 0 {
				n := min(len(stream), 64<<10)
				snd.Write(stream[:n])
				stream = stream[n:]
			}
			snd.CloseWrite()
		}()
		_, err := receiveStream(context.Background(), "c1", in, rcv, o)
		return err
	}
	dump := exec.Command("btrfs", "receive", "--dump")
	dump.Stdin = bytes.NewReader(s.buf.Bytes())
	if out, err := dump.CombinedOutput(); err != nil || !strings.Contains(string(out), "pwned") {
		t.Fatalf("the crafted stream does not parse: %v\n%s", err, out)
	}
	err := run(s.buf.Bytes(), RecvOptions{})
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Fatalf("the stream wrote outside the receive directory: %v (receive: %v)", entries, err)
	}
	if err == nil {
		t.Fatal("a stream writing through a symlink to the host was received")
	}
	t.Logf("refused: %v", err)

	// More bytes than allowed: the data command is 1 MiB, the limit 64 KiB.
	big := newSendStream()
	big.cmd(sendCmdSubvol, sendAttr{sendAttrPath, []byte("big")}, sendAttr{sendAttrUUID, uuid}, sendAttr{sendAttrCtransid, u64(1)})
	big.cmd(sendCmdMkfile, sendAttr{sendAttrPath, []byte("f")}, sendAttr{sendAttrIno, u64(257)})
	for off := uint64(0); off < 1<<20; off += 48 << 10 {
		big.cmd(sendCmdWrite, sendAttr{sendAttrPath, []byte("f")}, sendAttr{sendAttrOffset, u64(off)}, sendAttr{sendAttrData, make([]byte, 48<<10)})
	}
	big.cmd(sendCmdEnd)
	if err := run(big.buf.Bytes(), RecvOptions{MaxBytes: 64 << 10}); err == nil || !strings.Contains(err.Error(), "more than 65536 bytes arrived") {
		t.Fatalf("a stream over the limit: %v", err)
	}
}
