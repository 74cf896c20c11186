#!/usr/bin/env bash
# Checks the generated C header (the Swift side's view of the library):
#  1. it compiles with clang as C11, -Wall -Wextra -Werror (as Xcode would
#     compile the module map);
#  2. every function it declares is exported by the built library: a C
#     program that takes the address of each one links against
#     libaltyn_consent and runs.
# Usage: check-c-header.sh HEADER LIBRARY
set -euo pipefail
header="$1"
library="$2"
cc="${CC_FOR_HEADER:-clang}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

"$cc" -std=c11 -Wall -Wextra -Werror -Wno-pragma-once-outside-header -fsyntax-only -x c "$header"

functions=$(grep -oE '^[A-Za-z_][A-Za-z0-9_ *]* (uniffi_[a-z0-9_]+|ffi_[a-z0-9_]+)\(' "$header" \
  | grep -oE '(uniffi_[a-z0-9_]+|ffi_[a-z0-9_]+)\($' | tr -d '(' | sort -u)
count=$(echo "$functions" | grep -c .)
[ "$count" -gt 50 ] || { echo "check-c-header: only $count functions found in $header" >&2; exit 1; }

{
  echo "#include \"$(realpath "$header")\""
  echo "#include <stdio.h>"
  echo "static const void *const symbols[] = {"
  echo "$functions" | sed 's/.*/    (const void *)\&&,/'
  echo "};"
  echo "int main(void) {"
  echo "    size_t n = sizeof symbols / sizeof symbols[0];"
  echo "    for (size_t i = 0; i < n; i++) if (!symbols[i]) return 1;"
  echo "    printf(\"%zu\\n\", n);"
  echo "    return 0;"
  echo "}"
} > "$work/symbols.c"

libdir="$(dirname "$(realpath "$library")")"
"$cc" -std=c11 -Wall -Werror -Wno-pragma-once-outside-header -o "$work/symbols" "$work/symbols.c" \
  -L"$libdir" -laltyn_consent -Wl,-rpath,"$libdir"
linked=$("$work/symbols")
echo "check-c-header: header compiles; $linked of its $count functions resolve in $(basename "$library")"
[ "$linked" = "$count" ]
