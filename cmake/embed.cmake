# SPDX-License-Identifier: MIT
# Turns a text file into a C source defining `const char schema_sql[]`.
file(READ ${IN} CONTENT HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," CONTENT "${CONTENT}")
file(WRITE ${OUT} "/* generated from schema/store.sql */\nconst char schema_sql[] = {${CONTENT} 0x00};\n")
