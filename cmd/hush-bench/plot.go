package main

import (
	"image/color"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// plotSeries draws throughput (top) and delivery latency (bottom) over
// the seconds of a run into a PNG file.
func plotSeries(file, title string, series []second) error {
	rate, p50, p99 := make(plotter.XYs, len(series)), make(plotter.XYs, len(series)), make(plotter.XYs, len(series))
	for i, s := range series {
		x := float64(s.T)
		rate[i] = plotter.XY{X: x, Y: float64(s.Delivered)}
		p50[i] = plotter.XY{X: x, Y: s.DeliverP50}
		p99[i] = plotter.XY{X: x, Y: s.DeliverP99}
	}
	top := plot.New()
	top.Title.Text = title
	top.X.Label.Text = "second of the run"
	top.Y.Label.Text = "envelopes delivered per second"
	top.Y.Min = 0
	top.Add(plotter.NewGrid())
	if err := addLine(top, rate, "delivered/s", color.RGBA{B: 200, A: 255}); err != nil {
		return err
	}
	bottom := plot.New()
	bottom.X.Label.Text = "second of the run"
	bottom.Y.Label.Text = "send → delivered (ms)"
	bottom.Y.Min = 0
	bottom.Add(plotter.NewGrid())
	if err := addLine(bottom, p50, "p50", color.RGBA{G: 150, A: 255}); err != nil {
		return err
	}
	if err := addLine(bottom, p99, "p99", color.RGBA{R: 200, A: 255}); err != nil {
		return err
	}
	img := vgimg.New(8*vg.Inch, 7*vg.Inch)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadTop: vg.Points(6), PadBottom: vg.Points(6), PadLeft: vg.Points(6), PadRight: vg.Points(12), PadY: vg.Points(12)}
	canvases := plot.Align([][]*plot.Plot{{top}, {bottom}}, tiles, dc)
	top.Draw(canvases[0][0])
	bottom.Draw(canvases[1][0])
	return savePNG(img, file)
}

func addLine(p *plot.Plot, xys plotter.XYs, name string, c color.Color) error {
	l, err := plotter.NewLine(xys)
	if err != nil {
		return err
	}
	l.Color = c
	l.Width = vg.Points(1.5)
	p.Add(l)
	p.Legend.Add(name, l)
	p.Legend.Top = true
	return nil
}

func savePNG(img *vgimg.Canvas, file string) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
