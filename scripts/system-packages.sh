# Sourced by venv.sh (so by up.sh, test.sh and bench.sh): the system packages sendcase's document renderer needs
# to print letters (services/runtime/documents): WeasyPrint's Pango and HarfBuzz subsetter, fontconfig, and the
# Noto fonts for every script families write their names in (Latin, Greek, Cyrillic, Arabic and Urdu, Bengali,
# Gurmukhi, Gujarati, Devanagari, Tamil, Ethiopic, Hebrew: fonts-noto-core; Chinese: fonts-noto-cjk).
# On Debian or Ubuntu, missing ones are installed with apt-get (as root, or with sudo when it needs no password);
# otherwise this says exactly what to install and stops. Elsewhere (not dpkg), the notifications service checks
# the fonts itself when it starts and names what is missing.
sendcase_system_packages="fontconfig libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-noto-core fonts-noto-cjk"
if command -v dpkg-query >/dev/null 2>&1; then
  sendcase_missing=""
  for sendcase_package in $sendcase_system_packages; do
    if ! dpkg-query -W -f='${Status}\n' "$sendcase_package" 2>/dev/null | grep -q "install ok installed"; then
      sendcase_missing="$sendcase_missing $sendcase_package"
    fi
  done
  if [ -n "$sendcase_missing" ]; then
    if [ "$(id -u)" = 0 ]; then
      sendcase_apt="apt-get"
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      sendcase_apt="sudo apt-get"
    else
      echo "sendcase prints letters with fonts and libraries this system lacks. Install them, then run this again:" >&2
      echo "    sudo apt-get install --no-install-recommends$sendcase_missing" >&2
      exit 1
    fi
    echo "Installing what sendcase needs to print letters:$sendcase_missing"
    # shellcheck disable=SC2086
    if ! DEBIAN_FRONTEND=noninteractive $sendcase_apt install -y -q --no-install-recommends $sendcase_missing >/dev/null; then
      # a fresh machine's package lists may be empty or stale: update them once and try again
      $sendcase_apt update -q >/dev/null
      # shellcheck disable=SC2086
      DEBIAN_FRONTEND=noninteractive $sendcase_apt install -y -q --no-install-recommends $sendcase_missing >/dev/null
    fi
  fi
  unset sendcase_missing sendcase_package sendcase_apt
fi
unset sendcase_system_packages
