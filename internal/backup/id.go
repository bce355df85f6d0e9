package backup

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"regexp"
	"time"
)

// idLayout is the time part of a backup id: UTC, to the second, so ids sort
// by time as strings.
const idLayout = "20060102T150405Z"

// idRE is the whole shape of a backup id: the time, a hyphen and six lower-case
// hex digits. Nothing else is accepted, since an id becomes a directory name.
var idRE = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}$`)

// NewID returns a fresh backup id for time now: YYYYMMDDTHHMMSSZ-<6 hex>,
// e.g. 20261202T031500Z-4f9a0c. Ids of one tenant sort by creation time.
func NewID(now time.Time) (string, error) {
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("backup: new id: %w", err)
	}
	return now.UTC().Format(idLayout) + "-" + hex.EncodeToString(b), nil
}

// ValidateID checks that id has the shape NewID gives (and names a real
// time), so it is safe as a path element.
func ValidateID(id string) error {
	if !idRE.MatchString(id) {
		return &InvalidIDError{ID: id}
	}
	if _, err := time.Parse(idLayout, id[:len(idLayout)]); err != nil {
		return &InvalidIDError{ID: id}
	}
	return nil
}

// InvalidIDError is a backup id that does not have the shape
// YYYYMMDDTHHMMSSZ-<6 hex>.
type InvalidIDError struct{ ID string }

func (e *InvalidIDError) Error() string {
	id := e.ID
	if len(id) > 64 {
		id = id[:64] + "…"
	}
	return fmt.Sprintf("backup: invalid backup id %q: want YYYYMMDDTHHMMSSZ-<6 hex digits>, e.g. 20261202T031500Z-4f9a0c", id)
}
