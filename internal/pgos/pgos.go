// Package pgos runs PostgreSQL's programs as the operating-system user
// PostgreSQL must run as: `postgres` when the caller is root (PostgreSQL
// refuses to run as root), the caller itself otherwise.
package pgos

import (
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// OSUser is the account PostgreSQL runs under when started by root.
const OSUser = "postgres"

// User is the OS user PostgreSQL runs as.
type User struct {
	UID, GID int
	// Cred switches a child process to the user; nil when it is the caller.
	Cred *syscall.Credential
}

// PostgresUser returns the user PostgreSQL runs as.
func PostgresUser() (User, error) {
	if os.Geteuid() != 0 {
		return User{UID: os.Geteuid(), GID: os.Getegid()}, nil
	}
	u, err := user.Lookup(OSUser)
	if err != nil {
		return User{}, fmt.Errorf("running as root, PostgreSQL must run as the %q user, which does not exist: apt-get install -y postgresql-15 creates it", OSUser)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return User{UID: uid, GID: gid, Cred: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}, nil
}

// Chown gives path to u when the caller is root; otherwise it is u's already.
func (u User) Chown(path string) error {
	if u.Cred == nil {
		return nil
	}
	return os.Lchown(path, u.UID, u.GID)
}

// ChownTree gives a whole tree to u.
func (u User) ChownTree(root string) error {
	if u.Cred == nil {
		return nil
	}
	return filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, u.UID, u.GID)
	})
}
