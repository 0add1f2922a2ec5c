package main

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/gif" // decoders image.Decode knows
	"image/jpeg"
	_ "image/png"
	"io"

	"golang.org/x/image/draw"
)

// Thumbnails: a small JPEG of an image, sent inside the encrypted message
// so that a receiver can show something before (or without) downloading.
const (
	thumbSide    = 64         // the longer side, in pixels
	thumbQuality = 75         // JPEG quality
	maxImagePx   = 64_000_000 // larger images are not decoded for a thumbnail
)

// errImageTooLarge keeps a decompression bomb from being decoded.
var errImageTooLarge = errors.New("image too large to make a thumbnail")

// imageInfo is what the decoder says of an image: its format ("png",
// "jpeg", "gif") and size.
type imageInfo struct {
	format        string
	width, height int
}

// probeImage reads an image's header.
func probeImage(r io.Reader) (imageInfo, error) {
	cfg, format, err := image.DecodeConfig(r)
	if err != nil {
		return imageInfo{}, fmt.Errorf("not an image hush can read (PNG, JPEG, GIF): %w", err)
	}
	return imageInfo{format: format, width: cfg.Width, height: cfg.Height}, nil
}

// thumbnail decodes an image (the first frame of a GIF) and returns a JPEG
// of it whose longer side is at most thumbSide pixels, on white where
// the image is transparent.
func thumbnail(r io.ReadSeeker) ([]byte, error) {
	info, err := probeImage(r)
	if err != nil {
		return nil, err
	}
	if info.width <= 0 || info.height <= 0 || int64(info.width)*int64(info.height) > maxImagePx {
		return nil, errImageTooLarge
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	src, _, err := image.Decode(r)
	if err != nil {
		return nil, fmt.Errorf("decode image: %w", err)
	}
	w, h := thumbSize(src.Bounds().Dx(), src.Bounds().Dy())
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(dst, dst.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	draw.CatmullRom.Scale(dst, dst.Bounds(), src, src.Bounds(), draw.Over, nil)
	var out bytes.Buffer
	if err := jpeg.Encode(&out, dst, &jpeg.Options{Quality: thumbQuality}); err != nil {
		return nil, fmt.Errorf("encode thumbnail: %w", err)
	}
	if out.Len() > maxThumbnail {
		return nil, errors.New("thumbnail too large") // cannot happen at 64 px
	}
	return out.Bytes(), nil
}

// thumbSize scales w×h so that the longer side is at most thumbSide,
// keeping the aspect ratio and at least one pixel a side. Smaller images
// keep their size.
func thumbSize(w, h int) (int, int) {
	if w <= thumbSide && h <= thumbSide {
		return max(w, 1), max(h, 1)
	}
	if w >= h {
		return thumbSide, max(1, h*thumbSide/w)
	}
	return max(1, w*thumbSide/h), thumbSide
}
