# Turns a file into a C array so arena-node serves it without reading files
# at run time: cmake -DIN=file[|file…] -DOUT=embed.c [-DNAME=symbol] -P embed.cmake
# (NAME defaults to arena_userscript; the length is NAME_len).
if(NOT DEFINED NAME)
    set(NAME arena_userscript)
endif()
# IN may name several files, joined with '|': they are embedded back to back.
string(REPLACE "|" ";" files "${IN}")
set(hex "")
foreach(f ${files})
    file(READ "${f}" part HEX)
    string(APPEND hex "${part}")
endforeach()
string(LENGTH "${hex}" hexlen)
math(EXPR len "${hexlen} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE "${OUT}.tmp"
    "/* generated from ${IN}; do not edit */\n"
    "#include <stddef.h>\n"
    "const unsigned char ${NAME}[] = {${bytes} 0x00};\n"
    "const size_t ${NAME}_len = ${len};\n")
file(RENAME "${OUT}.tmp" "${OUT}")
