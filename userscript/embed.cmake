# Turns the userscript into a C array so arena-node serves it without reading
# files at run time: cmake -DIN=script.js -DOUT=embed.c -P embed.cmake
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" hexlen)
math(EXPR len "${hexlen} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE "${OUT}.tmp"
    "/* generated from ${IN}; do not edit */\n"
    "#include <stddef.h>\n"
    "const unsigned char arena_userscript[] = {${bytes} 0x00};\n"
    "const size_t arena_userscript_len = ${len};\n")
file(RENAME "${OUT}.tmp" "${OUT}")
