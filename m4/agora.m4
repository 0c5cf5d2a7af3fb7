# agora.m4 - configure helpers for Agora.
#
# AGORA_REQUIRE_PKG(VAR, MODULE, DEBIAN-PACKAGE)
# Finds MODULE with pkg-config and sets VAR_CFLAGS and VAR_LIBS; when it is
# missing, stops with a message that names the Debian package providing it.
AC_DEFUN([AGORA_REQUIRE_PKG], [
  PKG_CHECK_MODULES([$1], [$2], [],
    [AC_MSG_ERROR([missing dependency '$2': on Debian, apt-get install $3])])
])

# AGORA_CHECK_CFLAG(FLAG, VAR)
# Appends FLAG to VAR when the C compiler accepts it.
AC_DEFUN([AGORA_CHECK_CFLAG], [
  AC_MSG_CHECKING([whether $CC accepts $1])
  agora_save_CFLAGS="$CFLAGS"
  CFLAGS="$CFLAGS $1 -Werror"
  AC_COMPILE_IFELSE([AC_LANG_PROGRAM([], [])],
    [AC_MSG_RESULT([yes]); $2="$$2 $1"],
    [AC_MSG_RESULT([no])])
  CFLAGS="$agora_save_CFLAGS"
])
