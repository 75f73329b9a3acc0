/* commands.h - the subcommands, a file each (commands/cmd_NAME.c), as
 * clippie.c's table lists them: each takes its argv (argv[0] its name),
 * returns the exit code, and has a help text where "%s" stands for the
 * model option's help. */
#ifndef COMMANDS_H
#define COMMANDS_H

int cmd_convert(int argc, char **argv);
int cmd_embed_text(int argc, char **argv);
int cmd_embed_image(int argc, char **argv);
int cmd_similarity(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_index(int argc, char **argv);
int cmd_search(int argc, char **argv);
int cmd_duplicates(int argc, char **argv);

extern const char cmd_convert_help[], cmd_embed_text_help[], cmd_embed_image_help[], cmd_similarity_help[],
    cmd_tokenize_help[], cmd_index_help[], cmd_search_help[],
    cmd_duplicates_help[];

#endif
