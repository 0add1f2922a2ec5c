package sqlite

import (
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
)

// Why secure_delete is not enough: it zeroes a cell where it is deleted,
// and a freed page, but when a b-tree rebalances, SQLite rebuilds a page
// by packing the cells it keeps against the page's end and leaves the
// bytes before them as they were. Cells that moved to a sibling page stay
// there, as stale copies in the page's unallocated space, and deleting
// the cell later zeroes only its live copy. scrub zeroes that space (the
// file format's "unallocated space" between the cell pointer array and
// the cell content area, and the bodies of free blocks), as SQLite's own
// scrub utility (ext/misc/scrub.c) does on a copy, but in place.

// scrub zeroes the unused space of every b-tree page in the database and
// returns how many pages it rewrote. It runs in one write transaction:
// the pages it reads are the pages it writes. It reads the whole file
// (dbstat walks every b-tree) and writes only pages with something left
// in their unused space; the writes go through the write-ahead log like
// any other.
func (s *Store) scrub(ctx context.Context) (int, error) {
	rewritten := 0
	err := s.tx(ctx, func(tx *sql.Tx) error {
		dirty, err := dirtyPages(ctx, tx)
		if err != nil {
			return err
		}
		for _, pgno := range dirty {
			var page []byte
			if err := tx.QueryRowContext(ctx, `SELECT data FROM sqlite_dbpage WHERE pgno = ?`, pgno).Scan(&page); err != nil {
				return fmt.Errorf("scrub: read page %d: %w", pgno, err)
			}
			changed, err := zeroUnused(page, pgno)
			if err != nil {
				return err
			}
			if !changed {
				continue
			}
			if _, err := tx.ExecContext(ctx, `UPDATE sqlite_dbpage SET data = ? WHERE pgno = ?`, page, pgno); err != nil {
				return fmt.Errorf("scrub: write page %d: %w", pgno, err)
			}
			rewritten++
		}
		return nil
	})
	return rewritten, err
}

// dirtyPages lists the b-tree pages (interior and leaf, of tables and
// indexes; dbstat tells them from overflow and free pages) whose unused
// space is not all zeros.
func dirtyPages(ctx context.Context, tx *sql.Tx) ([]int64, error) {
	rows, err := tx.QueryContext(ctx, `SELECT d.pgno, d.data FROM dbstat s, sqlite_dbpage d
		WHERE s.pagetype IN ('internal', 'leaf') AND d.pgno = s.pageno`)
	if err != nil {
		return nil, fmt.Errorf("scrub: list pages: %w", err)
	}
	defer rows.Close()
	var dirty []int64
	for rows.Next() {
		var pgno int64
		var page []byte
		if err := rows.Scan(&pgno, &page); err != nil {
			return nil, err
		}
		changed, err := zeroUnused(page, pgno)
		if err != nil {
			return nil, err
		}
		if changed {
			dirty = append(dirty, pgno)
		}
	}
	return dirty, rows.Err()
}

// zeroUnused zeroes, in a b-tree page, the space between the cell pointer
// array and the cell content area, and each free block past its 4-byte
// header (next block, size), and says whether any byte was not zero. It
// changes nothing and returns an error if the page's header, cell
// pointers or free blocks are not consistent: it only ever zeroes bytes
// that no cell occupies.
func zeroUnused(page []byte, pgno int64) (bool, error) {
	bad := func(what string) (bool, error) {
		return false, fmt.Errorf("scrub: page %d: %s", pgno, what)
	}
	be16 := func(i int) int { return int(binary.BigEndian.Uint16(page[i:])) }
	hdr := 0
	if pgno == 1 {
		hdr = 100 // the database header
	}
	if len(page) < hdr+12 {
		return bad("too short")
	}
	var hdrSize int
	switch page[hdr] {
	case 0x02, 0x05: // interior index, interior table
		hdrSize = 12
	case 0x0a, 0x0d: // leaf index, leaf table
		hdrSize = 8
	default:
		return bad(fmt.Sprintf("not a b-tree page (type %#x)", page[hdr]))
	}
	cells, content := be16(hdr+3), be16(hdr+5)
	if content == 0 {
		content = 65536
	}
	ptrs := hdr + hdrSize + 2*cells
	if ptrs > content || content > len(page) {
		return bad("cell content area out of place")
	}
	for i := range cells {
		if pc := be16(hdr + hdrSize + 2*i); pc < content || pc >= len(page) {
			return bad("cell outside the content area")
		}
	}
	type span struct{ from, to int }
	spans := []span{{ptrs, content}}
	for pc, n := be16(hdr+1), 0; pc != 0; n++ {
		if pc < content || pc+4 > len(page) || n > len(page)/4 {
			return bad("free block out of place")
		}
		size, next := be16(pc+2), be16(pc)
		if size < 4 || pc+size > len(page) || next != 0 && next < pc+size+4 {
			return bad("free block out of place")
		}
		spans = append(spans, span{pc + 4, pc + size})
		pc = next
	}
	changed := false
	for _, sp := range spans {
		for i := sp.from; i < sp.to; i++ {
			if page[i] != 0 {
				changed = true
				page[i] = 0
			}
		}
	}
	return changed, nil
}
