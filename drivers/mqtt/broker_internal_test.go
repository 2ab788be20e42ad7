package mqtt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

func TestQuietHandler_DemotesOnlyRoutineConnectionEnds(t *testing.T) {
	cases := []struct {
		msg   string
		level slog.Level
		err   error
		want  string // "" when nothing may be written at Info
	}{
		{"", slog.LevelWarn, fmt.Errorf("read: %w", net.ErrClosed), ""},
		{"", slog.LevelWarn, io.EOF, ""},
		{"", slog.LevelWarn, mochi.ErrConnectionClosed, ""},
		{"", slog.LevelWarn, packets.ErrServerShuttingDown, ""},
		{"", slog.LevelWarn, packets.CodeDisconnect, ""},
		{"", slog.LevelWarn, packets.ErrBadUsernameOrPassword, `level=WARN msg="client connection ended with an error" component=broker error="bad username or password"`},
		{"", slog.LevelWarn, packets.ErrKeepAliveTimeout, `level=WARN msg="client connection ended with an error"`},
		{"", slog.LevelWarn, errors.New("read connection: connection reset by peer"), `level=WARN msg="client connection ended with an error"`},
		{"error processing packet", slog.LevelWarn, net.ErrClosed, `level=WARN msg="error processing packet"`},
		{"", slog.LevelError, net.ErrClosed, `level=ERROR msg=""`},
	}
	for _, tc := range cases {
		var buf bytes.Buffer
		log := slog.New(quietHandler{slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})}).With("component", "broker")
		log.Log(context.Background(), tc.level, tc.msg, "error", tc.err)
		got := buf.String()
		if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
			t.Errorf("%v %q %v: logged %q, want %q", tc.level, tc.msg, tc.err, got, tc.want)
		}
	}
	// At debug the routine ends are still there, with a message.
	var buf bytes.Buffer
	log := slog.New(quietHandler{slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})})
	log.Warn("", "error", net.ErrClosed, "at", time.Duration(0))
	if got := buf.String(); !strings.Contains(got, `level=DEBUG msg="client connection ended" error="use of closed network connection"`) {
		t.Errorf("at debug: %q", got)
	}
}
