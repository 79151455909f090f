// SPDX-License-Identifier: GPL-2.0-or-later

package engine

import (
	"errors"

	"passt/tap"
)

// tapBatch is how many frames are read from a tap device per wake-up; each
// needs a buffer of tap.BufSize bytes.
const tapBatch = 32

// TapLink adapts pasta's tap device.
type TapLink struct {
	Dev  *tap.Device
	bufs [][]byte
	// drained: the last Receive stopped at EAGAIN (Drained).
	drained bool
}

// NewTapLink wraps a tap device.
func NewTapLink(d *tap.Device) *TapLink {
	l := &TapLink{Dev: d, bufs: make([][]byte, tapBatch)}
	for i := range l.bufs {
		l.bufs[i] = make([]byte, tap.BufSize)
	}
	return l
}

// Fd returns the tap's descriptor.
func (l *TapLink) Fd() int { return l.Dev.Fd() }

// Receive reads up to tapBatch frames. A device that went away reports
// upstream's message.
func (l *TapLink) Receive(out [][]byte) (int, error) {
	n := min(len(out), len(l.bufs))
	got, err := l.Dev.ReadBatch(l.bufs[:n], out[:n])
	l.drained = err == nil && got < n
	if err != nil && got == 0 {
		if errors.Is(err, tap.ErrEOF) || err.Error() == "EOF" {
			return 0, tap.ErrEOF
		}
		return 0, tap.ErrDisconnect
	}
	return got, nil
}

// Drained reports whether the last Receive read the tap to EAGAIN: the
// engine then need not read again to hear it once more (one read(2) per
// wake-up fewer; the tap is level-triggered, so a frame that came
// meanwhile wakes the loop again).
func (l *TapLink) Drained() bool { return l.drained }

// Send writes frames to the tap.
func (l *TapLink) Send(frames [][]byte) error {
	_, err := l.Dev.WriteBatch(frames)
	return err
}

// SendOffload writes frames, those listed in offl with their offloads.
func (l *TapLink) SendOffload(frames [][]byte, offl []tap.OffloadAt) error {
	_, err := l.Dev.WriteOffload(frames, offl)
	return err
}

// StreamLink adapts a passt stream connection.
type StreamLink struct{ S *tap.Stream }

// Fd returns the socket.
func (l StreamLink) Fd() int { return l.S.Fd() }

// Receive reads the frames available, beginning a batch.
func (l StreamLink) Receive(out [][]byte) (int, error) { return l.S.ReadFrames(out) }

// ReceiveMore adds the frames available to the batch (batchExtender).
func (l StreamLink) ReceiveMore(out [][]byte) (int, error) { return l.S.ReadMoreFrames(out) }

// Drained reports whether the last read found the socket empty: the
// engine need not read again to hear it once more (the socket is
// level-triggered).
func (l StreamLink) Drained() bool { return l.S.Drained() }

// SleepsOnBulk: a stream socket gathers the frames written while the
// loop sleeps, and a larger read costs less per frame (bulkLinkBytes).
// pasta's tap does not: it returns one frame per read(2) whatever waits,
// and its super-frames make bulk reads large already.
func (l StreamLink) SleepsOnBulk() {}

// Pending reports part of a frame kept for a guest that stopped reading.
func (l StreamLink) Pending() bool { return l.S.Pending() }

// FlushPending writes what was kept, if the socket takes it.
func (l StreamLink) FlushPending() error { return l.S.FlushPending() }

// DroppedFrames counts the frames dropped while the socket stayed full.
func (l StreamLink) DroppedFrames() uint64 { return l.S.Dropped }

// Send writes frames with their length prefixes.
func (l StreamLink) Send(frames [][]byte) error {
	_, err := l.S.WriteBatch(frames)
	return err
}
