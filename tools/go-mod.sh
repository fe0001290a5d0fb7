# Sourced by the tool builds. required GO_MOD MODULE: the version GO_MOD requires of MODULE,
# in either require form (a one-line `require M v` or a block); empty when it requires none.
required() {
  sed -E 's/^require[[:space:]]+//' "$1" | awk -v m="$2" '$1 == m && !found { print $2; found = 1 }'
}
