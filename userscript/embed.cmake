# Turns a file into a C array so arena-node serves it without reading files
# at run time: cmake -DIN=file -DOUT=embed.c [-DNAME=symbol] -P embed.cmake
# (NAME defaults to arena_userscript; the length is NAME_len).
if(NOT DEFINED NAME)
    set(NAME arena_userscript)
endif()
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" hexlen)
math(EXPR len "${hexlen} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE "${OUT}.tmp"
    "/* generated from ${IN}; do not edit */\n"
    "#include <stddef.h>\n"
    "const unsigned char ${NAME}[] = {${bytes} 0x00};\n"
    "const size_t ${NAME}_len = ${len};\n")
file(RENAME "${OUT}.tmp" "${OUT}")
