package profile

import (
	"errors"
	"path/filepath"
)

// osDataDir follows the Windows convention for roaming per-user application
// data: %AppData%\Parley.
func osDataDir(getenv func(string) string) (string, error) {
	appData := getenv("AppData")
	if appData == "" || !filepath.IsAbs(appData) {
		return "", errors.New("profile: %AppData% is not set to an absolute path; set " + EnvHome)
	}
	return filepath.Join(appData, "Parley"), nil
}
