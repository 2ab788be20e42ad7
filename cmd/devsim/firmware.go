package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"hubd/firmware"
)

func init() {
	commands["firmware-image"] = runFirmwareImage
}

// runFirmwareImage builds a signed firmware image for the serial lamps and
// sockets (firmware/PROTOCOL.md section 11), or makes a vendor key pair.
func runFirmwareImage(args []string) error {
	fs := flag.NewFlagSet("firmware-image", flag.ContinueOnError)
	model := fs.String("model", "", "device model the image is for, as the device identifies (e.g. HL-100)")
	version := fs.String("version", "", "firmware version major.minor.patch (e.g. 1.3.0)")
	keyFile := fs.String("key", "", "vendor private key file: PEM (PKCS #8), or the 32-byte seed / 64-byte key raw, hex or base64")
	demoKey := fs.Bool("demo-key", false, "sign with the fixed demo vendor key that devsim and hubd demo devices trust (DEMO ONLY: its private half is public)")
	payloadFile := fs.String("payload", "", "file with the firmware payload ('-' for stdin)")
	out := fs.String("out", "", "where to write the image")
	crash := fs.Bool("crash", false, "emulator test: make the payload one that crashes at boot, so the device rolls back")
	genKey := fs.String("gen-key", "", "instead of an image: write a new vendor private key (hex seed, mode 0600) to this file and print its public key")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("firmware-image: unexpected argument %q", fs.Arg(0))
	}
	if *genKey != "" {
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return fmt.Errorf("firmware-image: generate key: %w", err)
		}
		if err := writeFileAtomic(*genKey, []byte(hex.EncodeToString(priv.Seed())+"\n"), 0o600); err != nil {
			return err
		}
		fmt.Printf("wrote private key %s\npublic key %s\n", *genKey, hex.EncodeToString(pub))
		return nil
	}
	img, pub, err := buildImage(*model, *version, *keyFile, *demoKey, *payloadFile, *crash, os.Stdin)
	if err != nil {
		return err
	}
	if *out == "" {
		return errors.New("firmware-image: -out is required")
	}
	if err := writeFileAtomic(*out, img, 0o644); err != nil {
		return err
	}
	im, _ := firmware.ParseImage(img)
	fmt.Printf("wrote %s: model %s, version %s, %d bytes (payload %d, CRC-32 %08X), signed by %s\n",
		*out, im.Model, im.VersionString(), len(img), len(im.Payload), im.CRC, hex.EncodeToString(pub))
	return nil
}

// buildImage checks the flags and builds the image; stdin serves "-payload -".
func buildImage(model, version, keyFile string, demoKey bool, payloadFile string, crash bool, stdin io.Reader) ([]byte, ed25519.PublicKey, error) {
	if model == "" || version == "" || payloadFile == "" {
		return nil, nil, errors.New("firmware-image: -model, -version and -payload are required")
	}
	ver, err := firmware.ParseVersion(version)
	if err != nil {
		return nil, nil, fmt.Errorf("firmware-image: %w", err)
	}
	var key ed25519.PrivateKey
	switch {
	case demoKey && keyFile != "":
		return nil, nil, errors.New("firmware-image: give -key or -demo-key, not both")
	case demoKey:
		key = firmware.DemoVendorKey()
	case keyFile != "":
		b, err := readLimited(keyFile, nil, 64<<10)
		if err != nil {
			return nil, nil, err
		}
		if key, err = firmware.ParsePrivateKey(b); err != nil {
			return nil, nil, fmt.Errorf("firmware-image: %s: %w", keyFile, err)
		}
	default:
		return nil, nil, errors.New("firmware-image: give -key KEYFILE or -demo-key")
	}
	payload, err := readLimited(payloadFile, stdin, firmware.MaxImagePayload)
	if err != nil {
		return nil, nil, err
	}
	if crash {
		payload = append(append([]byte(nil), firmware.CrashMarker...), payload...)
	}
	img, err := firmware.BuildImage(model, ver, payload, key)
	if err != nil {
		return nil, nil, fmt.Errorf("firmware-image: %w", err)
	}
	return img, key.Public().(ed25519.PublicKey), nil
}

// readLimited reads a file ("-": stdin) of at most max bytes.
func readLimited(name string, stdin io.Reader, max int) ([]byte, error) {
	var r io.Reader
	if name == "-" && stdin != nil {
		r = stdin
	} else {
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("firmware-image: %w", err)
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, int64(max)+1))
	if err != nil {
		return nil, fmt.Errorf("firmware-image: read %s: %w", name, err)
	}
	if len(b) > max {
		return nil, fmt.Errorf("firmware-image: %s: %w: more than %d bytes", name, firmware.ErrImageTooLarge, max)
	}
	return b, nil
}

// writeFileAtomic writes b to name via a temporary file, fsync and rename,
// so a crash leaves the old file or the new one, never half of one.
func writeFileAtomic(name string, b []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".*")
	if err != nil {
		return fmt.Errorf("firmware-image: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename: nothing left to remove
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Chmod(mode)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), name)
	}
	if err != nil {
		return fmt.Errorf("firmware-image: write %s: %w", name, err)
	}
	return nil
}
