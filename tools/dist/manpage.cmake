# Writes a man page (roff) from a program's --help: the options section is
# the help text itself, so the page never disagrees with the program.
#   cmake -DPROG=path/to/arena-node -DNAME=arena-node -DSECTION=1
#         -DSUMMARY="one line" -DINTRO=file.roff -DVERSION=0.1.0 -DOUT=out.1 -P manpage.cmake
# INTRO holds the hand-written sections (SYNOPSIS, DESCRIPTION, FILES, SEE
# ALSO...) in roff, with a line @OPTIONS@ where the options go.
execute_process(COMMAND ${PROG} --help OUTPUT_VARIABLE help RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${PROG} --help exited ${rc}")
endif()
# roff: a backslash is \e; a line starting with . or ' would be a request;
# the page stays ASCII (an em dash is \(em, a multiplication sign \(mu).
string(REPLACE "\\" "\\e" help "${help}")
string(REGEX REPLACE "(^|\n)([.'])" "\\1\\\\&\\2" help "${help}")
string(ASCII 226 128 148 emdash)
string(ASCII 195 151 times)
string(REPLACE "${emdash}" "\\(em" help "${help}")
string(REPLACE "${times}" "\\(mu" help "${help}")
if(help MATCHES "[^\t\n -~]")
    message(FATAL_ERROR "${PROG} --help has a character this script does not turn into roff")
endif()
file(READ ${INTRO} intro)
string(REPLACE "@OPTIONS@\n" ".SH OPTIONS\n.nf\n${help}.fi\n" page "${intro}")
if(page STREQUAL intro)
    message(FATAL_ERROR "${INTRO} has no @OPTIONS@ line")
endif()
file(WRITE ${OUT}.tmp
    ".TH ${NAME} ${SECTION} \"\" \"ArenaMesh ${VERSION}\" \"ArenaMesh\"\n"
    ".SH NAME\n${NAME} \\- ${SUMMARY}\n"
    "${page}")
file(RENAME ${OUT}.tmp ${OUT})
