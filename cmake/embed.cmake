# SPDX-License-Identifier: MIT
# Turns a text file into a C source defining `const char NAME[]` (NAME
# defaults to schema_sql, for schema/store.sql).
if(NOT DEFINED NAME)
  set(NAME schema_sql)
endif()
get_filename_component(SRC_NAME ${IN} NAME)
file(READ ${IN} CONTENT HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," CONTENT "${CONTENT}")
file(WRITE ${OUT} "/* generated from ${SRC_NAME} */\nconst char ${NAME}[] = {${CONTENT} 0x00};\n")
