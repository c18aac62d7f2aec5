/*
 * main.c - the `fairlead` executable. Everything but this file lives in the
 * fl_cli library, so that the unit tests drive the same code.
 */
#include <stdio.h>

#include "cli.h"

int main(int argc, char *argv[])
{
	return cli_main(argc, argv, stdout, stderr);
}
