/*
 * migrations.h - the schema migrations compiled into the server, in order.
 * Migration N brings the schema from version N-1 to N.
 */
#ifndef CP_MIGRATIONS_H
#define CP_MIGRATIONS_H

struct cp_migration {
	int version;
	const char *name;
	const char *sql;
};

extern const struct cp_migration cp_migrations[];
extern const int cp_migrations_count;

#endif
